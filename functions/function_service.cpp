// Routing, the setup and train functions, status, metrics and the
// gateway-compatible routes of `emnist serve`.
#include "functions/function_service.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <cstdio>
#include <optional>
#include <random>

#include "base/printable.hpp"
#include "functions/async_reply.hpp"
#include "functions/call_config.hpp"
#include "functions/summary_json.hpp"
#include "jobs/job_lifecycle.hpp"
#include "jobs/job_model.hpp"
#include "jobs/job_status_json.hpp"
#include "jobs/simulation.hpp"
#include "model/mlp.hpp"
#include "model/rng.hpp"
#include "runtime/config/config_overrides.hpp"
#include "runtime/data/model_io.hpp"
#include "runtime/net/http_client.hpp"
#include "runtime/net/json_text.hpp"
#include "runtime/store/memcached_options.hpp"

namespace emnist {
namespace {

using clock_type = std::chrono::steady_clock;
/// Calls to the gateway: the fan-out and a train function's re-invocation.
constexpr auto gateway_timeout = std::chrono::seconds(10);
/// How long a job's status read from the store answers later requests.
constexpr auto status_cache_ttl = std::chrono::milliseconds(20);

http_response json_response(int status, const boost::json::object& o) {
  return {status, "application/json", readable_json(o), {}};
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

/// A 400 naming what is wrong with the ?job= of a request, if anything.
std::optional<http_response> refuse_job(const std::string* job) {
  if (job != nullptr && valid_job_name(*job)) return std::nullopt;
  return json_error(400,
                    job == nullptr
                        ? "missing ?job="
                        : "job '" + printable(*job) + "': " + job_name_rule,
                    "job");
}

/// Every replica has a closed record: the job trains no more.
bool all_replicas_done(const job_status& s) {
  for (const auto& r : s.records) {
    if (!r || !r->done) return false;
  }
  return true;
}

std::string new_job_name() {
  const auto now =
      std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "job-%Y%m%d-%H%M%S", &tm);
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "-%04x",
                static_cast<unsigned>(std::random_device{}() & 0xffff));
  return std::string(buf) + suffix;
}

}  // namespace

function_service::function_service(config_sources base, job_config config,
                                   std::shared_ptr<const job_data> data,
                                   std::string function, std::string token)
    : base_(std::move(base)),
      config_(std::move(config)),
      data_(std::move(data)),
      function_(std::move(function)),
      token_(std::move(token)),
      predict_(config_, data_ ? data_->mapping : class_mapping{}),
      jobs_(config_),
      runner_(static_cast<std::size_t>(config_.actors.scheduler_threads)),
      driver_({config_.http.gateway_url, token_},
              [this](const std::string& job) { return jobs_.records(job); }),
      work_(std::make_unique<boost::asio::thread_pool>(work_threads)) {}

expected<void> function_service::load_models() {
  if (function_ != "predict" && function_ != "all") return {};
  return predict_.load_file_model();
}

function_service::~function_service() {
  begin_shutdown();
  wait_idle(clock_type::time_point::max());
  work_->join();
}

void function_service::begin_shutdown() {
  stopping_ = true;
  driver_.stop();      // no new calls of the replicas
  runner_.stop_all();  // running replicas push, save, and answer
}

void function_service::finish_status_reads() {
  work_->join();
}

bool function_service::wait_idle(clock_type::time_point deadline) {
  std::unique_lock lock(running_mutex_);
  return idle_.wait_until(lock, deadline, [this] { return running() == 0; });
}

void function_service::handle(http_request request, http_reply reply) {
  // Routing a call and counting it are one step: two requests at once must
  // not both see the last free slot of http.max_inflight.
  std::unique_lock admit(admission_mutex_);
  const auto routed = route(
      request, {function_, token_, stopping_, running_setup_, running_train_,
                static_cast<std::size_t>(config_.http.max_inflight)});
  std::atomic<std::size_t>* count = nullptr;
  if (const auto* c = std::get_if<function_call>(&routed.action);
      c != nullptr && (c->what == function_call::kind::setup ||
                       c->what == function_call::kind::train)) {
    count = c->what == function_call::kind::setup ? &running_setup_
                                                  : &running_train_;
    begin_call(*count);
  }
  admit.unlock();
  http_reply counted = [this, label = routed.label,
                        reply = std::move(reply)](http_response response) {
    metrics_.count_request(label, response.status);
    reply(std::move(response));
  };
  if (const auto* now = std::get_if<http_response>(&routed.action)) {
    return counted(*now);
  }
  const auto call = std::get<function_call>(routed.action);
  auto req = std::make_shared<const http_request>(std::move(request));
  switch (call.what) {
    case function_call::kind::metrics:
      return counted(
          {200, "text/plain; version=0.0.4", metrics_.render(running()), {}});
    case function_call::kind::status:
    case function_call::kind::model:
      // Both read the store, which blocks: never on the HTTP thread.
      boost::asio::post(
          *work_, [this, req, what = call.what, reply = std::move(counted)] {
            reply(guarded([&] {
              return what == function_call::kind::status ? status(*req)
                                                         : model(*req);
            }));
          });
      return;
    case function_call::kind::predict:
      // A file's model answers here, at once; a job's may read the store.
      if (req->query_value("job") == nullptr) {
        return counted(guarded([&] { return predict_.predict(*req); }));
      }
      boost::asio::post(*work_, [this, req, reply = std::move(counted)] {
        reply(guarded([&] { return predict_.predict(*req); }));
      });
      return;
    case function_call::kind::setup:
    case function_call::kind::train:
      break;
  }
  if (call.async) {
    counted =
        async_reply(call.what == function_call::kind::setup ? "emnist-setup"
                                                            : "emnist-train",
                    *req, std::move(counted));
  }
  auto answer = [this, count, reply = std::move(counted)](http_response r) {
    reply(std::move(r));
    end_call(*count);
  };
  if (call.what == function_call::kind::setup) {
    boost::asio::post(*work_, [this, req, answer = std::move(answer)] {
      answer(guarded([&] { return setup(*req); }));
    });
  } else {
    boost::asio::post(*work_, [this, req, answer = std::move(answer)] {
      train(*req, std::move(answer));
    });
  }
}

void function_service::begin_call(std::atomic<std::size_t>& count) {
  std::lock_guard guard(running_mutex_);
  ++count;
}

void function_service::end_call(std::atomic<std::size_t>& count) {
  std::lock_guard guard(running_mutex_);
  --count;
  idle_.notify_all();
}

http_response function_service::guarded(
    const std::function<http_response()>& work) {
  try {
    return work();
  } catch (const std::exception& e) {
    return json_error(500, std::string("internal error: ") + e.what(),
                      "function");
  }
}

expected<job_metadata> function_service::set_up_job(const job_config& cfg,
                                                    bool replace) {
  const mlp_shape shape{data_->features,
                        static_cast<std::size_t>(cfg.model.hidden),
                        data_->classes};
  std::vector<float> initial(shape.size());
  init_parameters(
      shape,
      seed_for(static_cast<std::uint64_t>(cfg.model.seed), 0, rng_stream::init),
      initial);
  return jobs_.create(cfg, shape, initial, replace);
}

http_response function_service::setup(const http_request& request) {
  if (config_.sync.store != store_kind::memcached) {
    return json_error(400,
                      "emnist-setup keeps jobs in memcached: this function "
                      "runs with sync.store = \"memory\"",
                      "sync.store");
  }
  std::vector<std::string> overrides;
  std::string field;
  auto cfg = request_config(request, base_, config_, overrides, field);
  if (!cfg)
    return json_error(http_status_of(cfg.error()), cfg.error().message, field);
  auto replace = take_flag(request, overrides, "replace");
  if (!replace) return json_error(400, replace.error().message, "replace");
  auto resume = take_flag(request, overrides, "resume");
  if (!resume) return json_error(400, resume.error().message, "resume");
  const bool named = std::any_of(
      overrides.begin(), overrides.end(),
      [](const std::string& o) { return o.rfind("sync.job=", 0) == 0; });
  if (!named) cfg->sync.job = new_job_name();
  if (!valid_job_name(cfg->sync.job)) {
    return json_error(
        400, "job '" + printable(cfg->sync.job) + "': " + job_name_rule,
        "sync.job");
  }
  // This process serves the replicas itself: it must be able to run them
  // all at once (a platform that cannot is said so, not left to train
  // with fewer).
  if (*resume) {
    if (!named) {
      return json_error(400, "resume needs the job's name (sync.job)",
                        "sync.job");
    }
    return resume_job(cfg->sync.job);
  }
  const auto replicas = static_cast<std::uint32_t>(cfg->train.replicas);
  if (function_ == "all" && cfg->train.replicas > config_.http.max_inflight) {
    return json_error(
        400,
        "train.replicas = " + std::to_string(replicas) +
            ": this process runs at most " +
            std::to_string(config_.http.max_inflight) +
            " train calls at once (http.max_inflight); raise it, or deploy "
            "emnist-train apart",
        "train.replicas");
  }
  auto made = set_up_job(*cfg, *replace);
  if (!made) {
    const auto& e = made.error();
    std::fprintf(stderr, "emnist-setup: job %s: %s\n", cfg->sync.job.c_str(),
                 e.message.c_str());
    return json_error(http_status_of(e), e.message,
                      e.code == errc::aborted ? "job" : "sync");
  }
  std::fprintf(stderr, "emnist-setup: job %s set up%s: %u replicas\n",
               cfg->sync.job.c_str(), *replace ? " (replacing)" : "", replicas);
  if (auto driving = driver_.drive(cfg->sync.job, made->id, replicas);
      !driving) {
    return json_error(http_status_of(driving.error()), driving.error().message,
                      "sync");
  }
  boost::json::object o{{"job", cfg->sync.job},
                        {"replicas", replicas},
                        {"status_url", status_url(cfg->sync.job)}};
  auto outcomes = first_outcomes(cfg->sync.job, replicas);
  for (auto& [k, v] : outcomes) o[k] = std::move(v);
  // 200: the job exists and its replicas are called. (faas-cli shows a
  // body only on 200; the async route answers 202 before this runs.)
  return json_response(200, o);
}

http_response function_service::resume_job(const std::string& job) {
  auto s = jobs_.status(job, std::chrono::milliseconds(0));
  if (!s) {
    return json_error(http_status_of(s.error()), s.error().message,
                      s.error().code == errc::not_found ? "job" : "sync");
  }
  const auto now = unix_ms();
  const auto state = job_state_of(*s, now);
  if (state == "finished" || state == "creating") {
    return json_error(409, "job '" + job + "' is " + state + ": not resumed",
                      "job");
  }
  // One driver a job: another setup that still calls its replicas (its
  // notes are fresh) keeps them.
  if (s->driver && now - s->driver->heartbeat_ms < abandoned_after_ms) {
    return json_error(
        409,
        "job '" + job + "' is driven by emnist-setup on " + s->driver->host +
            " (its notes are " +
            std::to_string((now - s->driver->heartbeat_ms) / 1000) +
            " s old): not resumed twice",
        "job");
  }
  if (auto driving = driver_.drive(job, s->meta.id, s->replicas); !driving) {
    return json_error(http_status_of(driving.error()), driving.error().message,
                      "sync");
  }
  std::fprintf(stderr, "emnist-setup: job %s resumed: %u replicas\n",
               job.c_str(), s->replicas);
  boost::json::object o{{"job", job},
                        {"replicas", s->replicas},
                        {"resumed", true},
                        {"status_url", status_url(job)}};
  auto outcomes = first_outcomes(job, s->replicas);
  for (auto& [k, v] : outcomes) o[k] = std::move(v);
  return json_response(200, o);
}

boost::json::object function_service::first_outcomes(const std::string& job,
                                                     std::uint32_t replicas) {
  // A moment for the calls to start their replicas (a heartbeat) or to be
  // refused (the driver notes why): a platform that cannot run them all at
  // once shows at once in the answer, not only in the status.
  constexpr auto wait = std::chrono::milliseconds(2000);
  const auto deadline = clock_type::now() + wait;
  std::uint32_t started = 0;
  boost::json::array waiting;
  for (;;) {
    auto s = jobs_.status(job, std::chrono::milliseconds(0));
    started = 0;
    waiting.clear();
    if (s) {
      const auto now = unix_ms();
      for (std::uint32_t i = 0; i < replicas; ++i) {
        const auto& r = i < s->records.size() ? s->records[i] : std::nullopt;
        if (r && now - r->heartbeat_ms < abandoned_after_ms) {
          ++started;
          continue;
        }
        if (s->driver && i < s->driver->slots.size() &&
            s->driver->slots[i].state == "waiting") {
          waiting.push_back(boost::json::object{
              {"replica", i}, {"reason", s->driver->slots[i].reason}});
        }
      }
    }
    if (started + waiting.size() >= replicas || clock_type::now() >= deadline) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  boost::json::object o{{"started", started}};
  if (!waiting.empty()) o["waiting"] = std::move(waiting);
  return o;
}

std::string function_service::status_url(const std::string& job) const {
  return config_.http.gateway_url + "/function/emnist-setup/status?job=" + job;
}

std::variant<http_response, function_service::train_call>
function_service::parse_train(const http_request& request) {
  const std::string* job = request.query_value("job");
  if (job != nullptr) {
    if (auto refused = refuse_job(job)) return *refused;
  }
  const std::string* worker_text = request.query_value("worker_id");
  const std::string* job_id = request.query_value("job_id");
  train_call call;
  if ((worker_text != nullptr || job_id != nullptr) && job == nullptr) {
    return json_error(400,
                      std::string(worker_text ? "worker_id" : "job_id") +
                          " needs ?job=: the replica of which job",
                      "job");
  }
  if (worker_text != nullptr) {
    std::uint32_t worker = 0;
    auto [ptr, ec] = std::from_chars(
        worker_text->data(), worker_text->data() + worker_text->size(), worker);
    if (ec != std::errc{} || ptr != worker_text->data() + worker_text->size()) {
      return json_error(400,
                        "worker_id '" + printable(*worker_text) +
                            "': expected a replica number",
                        "worker_id");
    }
    call.worker = worker;
  }
  std::string field;
  if (job == nullptr) {
    // No job named: a job of its own, set up here, one replica unless the
    // call says otherwise; it trains replica 0.
    std::vector<std::string> one{"train.replicas=1"};
    auto cfg =
        request_config(request, base_, config_, call.overrides, field, one);
    if (!cfg)
      return json_error(http_status_of(cfg.error()), cfg.error().message,
                        field);
    if (config_.sync.store != store_kind::memcached) {
      return json_error(400,
                        "emnist-train keeps its job in memcached: this "
                        "function runs with sync.store = \"memory\"",
                        "sync.store");
    }
    call.cfg = std::move(*cfg);
    call.cfg.sync.job = new_job_name();
    call.job = call.cfg.sync.job;
    call.worker = 0;
    call.overrides.insert(call.overrides.begin(), one.begin(), one.end());
    if (auto ok = set_up_job(call.cfg, false); !ok) {
      return json_error(http_status_of(ok.error()), ok.error().message, "sync");
    }
    return call;
  }
  // A job named: its settings come from the store, so that the caller
  // repeats none of them.
  call.job = *job;
  if (config_.sync.store != store_kind::memcached) {
    return json_error(400,
                      "?job= joins a job in memcached: this function runs "
                      "with sync.store = \"memory\"",
                      "sync.store");
  }
  auto s = jobs_.status(*job, std::chrono::milliseconds(0));
  if (!s) {
    const auto& e = s.error();
    return json_error(http_status_of(e), e.message,
                      e.code == errc::not_found ? "job" : "sync");
  }
  if (job_id != nullptr && *job_id != s->meta.id) {
    // A driver of a job that was replaced since: the replicas are the new
    // job's, called by the new job's driver.
    call.driven = true;
    return json_error(409,
                      "job '" + *job + "' was replaced: this call (job_id " +
                          printable(*job_id) + ") is for the one before",
                      "job_id");
  }
  call.driven = job_id != nullptr;
  auto cfg = request_config(request, base_, config_, call.overrides, field,
                            job_registry::settings_of(*s));
  if (!cfg)
    return json_error(http_status_of(cfg.error()), cfg.error().message, field);
  // A driver's call on a finished job: nothing more to call.
  if (call.driven && job_state_of(*s, unix_ms()) == "finished") {
    return json_error(409,
                      "job '" + *job + "' is finished" +
                          (s->reached ? " (its target is reached)" : "") +
                          ": nothing to train",
                      "job");
  }
  call.cfg = std::move(*cfg);
  call.cfg.sync.job = *job;
  const auto replicas = static_cast<std::uint64_t>(call.cfg.train.replicas);
  if (call.worker && *call.worker >= replicas) {
    return json_error(400,
                      "worker_id " + std::to_string(*call.worker) +
                          " of a job of " + std::to_string(replicas) +
                          " replicas (train.replicas)",
                      "worker_id");
  }
  return call;
}

void function_service::train(const http_request& request, http_reply answer) {
  auto parsed = parse_train(request);
  if (auto* refused = std::get_if<http_response>(&parsed)) {
    return answer(std::move(*refused));
  }
  auto call =
      std::make_shared<train_call>(std::move(std::get<train_call>(parsed)));
  replicas_options options;
  options.start = job_start::resume;
  if (call->worker) {
    options.ids = {*call->worker};
  } else {
    options.any_free = 1;  // the first replica whose slot is free
  }
  const auto t0 = clock_type::now();
  // A message to the process's job runner: no thread of its own.
  runner_.start(
      call->cfg, data_, options,
      [this, call](const progress_report& p) {
        for (const auto& r : p.replicas) {
          metrics_.set_replica(call->job, r.id, r.samples,
                               p.last_accuracy.value_or(-1.0));
        }
      },
      [this, call, t0,
       answer = std::move(answer)](expected<simulation_result> result) {
        answer(guarded([&] { return trained(*call, result, t0); }));
      });
}

http_response function_service::trained(
    const train_call& call, const expected<simulation_result>& result,
    clock_type::time_point t0) {
  if (!result) {
    const auto& e = result.error();
    return json_error(http_status_of(e), e.message,
                      e.code == errc::not_found ? "job" : "sync");
  }
  metrics_.add_run(result->sync, result->sync_wait_seconds);
  const auto& w = result->workers.at(0);
  metrics_.set_replica(call.job, w.id, w.samples, result->accuracy);
  // The prototype's line, for whoever reads the function's log.
  std::fprintf(stderr, "Worker ID: %u Iterations: %llu Time: %.3f Name: %s\n",
               w.id, static_cast<unsigned long long>(w.iterations),
               std::chrono::duration<double>(clock_type::now() - t0).count(),
               host_name().c_str());
  // Out of time but not done: a setup's driver calls again; a call of its
  // own goes on in a fresh invocation, from the stored progress (the
  // prototype's one-function-per-iteration mode).
  bool continued = false;
  if (!call.driven && result->budget_spent && !result->reached &&
      !result->interrupted &&
      w.iterations < static_cast<std::uint64_t>(call.cfg.train.max_epochs)) {
    auto again = call;
    again.worker = w.id;
    continued = reinvoke(again);
  }
  auto summary = summary_object(*result);
  summary["job"] = call.job;
  summary["worker_id"] = w.id;
  summary["continued"] = continued;
  summary["status_url"] = status_url(call.job);
  return {200, "application/json", readable_json(summary), {}};
}

bool function_service::reinvoke(const train_call& call) {
  const std::string url =
      config_.http.gateway_url +
      "/async-function/emnist-train?job=" + call.job +
      "&worker_id=" + std::to_string(call.worker.value_or(0));
  std::vector<std::pair<std::string, std::string>> headers{
      {"Content-Type", "text/plain"}};
  if (!token_.empty())
    headers.emplace_back("Authorization", "Bearer " + token_);
  auto r = http_request_to("POST", url, overrides_to_toml(call.overrides),
                           headers, gateway_timeout);
  if (r && r->status == 202) return true;
  std::fprintf(stderr, "emnist: worker %u could not re-invoke itself: %s\n",
               call.worker.value_or(0),
               r ? ("answered " + std::to_string(r->status)).c_str()
                 : r.error().message.c_str());
  return false;
}

http_response function_service::status(const http_request& request) {
  const std::string* job = request.query_value("job");
  if (auto refused = refuse_job(job)) return *refused;
  if (config_.sync.store != store_kind::memcached) {
    return json_error(400,
                      "status reads jobs from memcached: this function runs "
                      "with sync.store = \"memory\"",
                      "sync.store");
  }
  // Pollers within a few milliseconds of each other share one read.
  auto s = jobs_.status(*job);
  if (!s) {
    return json_error(http_status_of(s.error()), s.error().message,
                      s.error().code == errc::not_found ? "job" : "sync");
  }
  history_.note(*job, *s);
  std::string body = job_status_json(*job, *s, unix_ms());
  if (const auto* h = request.query_value("history");
      h != nullptr && *h == "1") {
    auto o = boost::json::parse(body).as_object();
    o["history"] = history_.of(*job);
    body = boost::json::serialize(o);
  }
  return {200, "application/json", std::move(body), {}};
}

http_response function_service::model(const http_request& request) {
  const std::string* job = request.query_value("job");
  if (auto refused = refuse_job(job)) return *refused;
  const std::string* format_name = request.query_value("format");
  const std::string extension =
      "." + (format_name == nullptr ? std::string("onnx") : *format_name);
  auto format = model_format_of(*job + extension);
  if (!format) {
    return json_error(
        400,
        "format=" + printable(extension.substr(1)) + ": expected onnx or npz",
        "format");
  }
  auto m = jobs_.model(*job);
  if (!m) {
    return json_error(http_status_of(m.error()), m.error().message,
                      m.error().code == errc::not_found ? "job" : "sync");
  }
  // The labels of this process's data when the job trains on its split.
  if (job_split(m->status) == config_.data.split && data_ != nullptr) {
    m->model.labels = class_labels(data_->mapping, m->model.shape.classes);
  }
  auto bytes = encode_model(*format, m->model, *job + extension);
  if (!bytes) return json_error(500, bytes.error().message, "model");
  // The parameters as they are now: final once the job is done.
  return {
      200,
      "application/octet-stream",
      std::move(*bytes),
      {{"Content-Disposition",
        "attachment; filename=\"" + *job + extension + "\""},
       {"X-Emnist-Job-Reached", m->status.reached ? "true" : "false"},
       {"X-Emnist-Job-Done", all_replicas_done(m->status) ? "true" : "false"}}};
}

}  // namespace emnist
