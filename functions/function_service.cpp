// Routing, the setup and train functions, status, metrics and the
// gateway-compatible routes of `emnist serve`.
#include "functions/function_service.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json.hpp>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include "actors/simulation.hpp"
#include "base/printable.hpp"
#include "functions/summary_json.hpp"
#include "model/mlp.hpp"
#include "model/rng.hpp"
#include "runtime/config/config_overrides.hpp"
#include "runtime/config/store_config.hpp"
#include "runtime/data/model_io.hpp"
#include "runtime/net/http_client.hpp"
#include "runtime/net/json_text.hpp"
#include "runtime/store/job_model.hpp"
#include "runtime/store/job_state.hpp"
#include "runtime/store/job_status_json.hpp"
#include "runtime/store/store_factory.hpp"

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

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
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

/// A record older than this, not done, is a replica whose process is gone.
constexpr std::int64_t abandoned_ms = 15000;

/// The lowest replica nobody runs: no record yet, or a record that was
/// never closed and has not been written for abandoned_ms.
std::optional<std::uint32_t> first_free_replica(const job_status& s,
                                                std::int64_t now_ms) {
  for (std::uint32_t id = 0; id < s.replicas; ++id) {
    const auto& r = id < s.records.size() ? s.records[id] : std::nullopt;
    if (!r) return id;
    if (!r->done && now_ms - r->heartbeat_ms > abandoned_ms) return id;
  }
  return std::nullopt;
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

expected<std::string> load_secret(const std::string& path) {
  namespace fs = std::filesystem;
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_argument,
                      "http.secret_file: '" + path + "': " + why +
                          " (a secret that is there must be usable: the "
                          "server does not start open)");
  };
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) return std::string{};
  if (ec) return bad(ec.message());
  if (st.type() == fs::file_type::directory) return bad("a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return bad(std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return bad("cannot be read");
  std::string s = ss.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.pop_back();
  }
  std::size_t lead = 0;
  while (lead < s.size() && std::isspace(static_cast<unsigned char>(s[lead]))) {
    ++lead;
  }
  s.erase(0, lead);
  if (s.empty()) return bad("empty (or only white space)");
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x21 ||
        static_cast<unsigned char>(c) > 0x7e) {
      return bad(
          "holds a character a bearer token cannot (white space or "
          "a control or non-ASCII byte)");
    }
  }
  return s;
}

function_service::function_service(config_sources base, job_config config,
                                   std::shared_ptr<const job_data> data,
                                   std::string function, std::string token)
    : base_(std::move(base)),
      config_(std::move(config)),
      data_(std::move(data)),
      function_(std::move(function)),
      token_(std::move(token)),
      predict_(config_, data_ ? data_->mapping : class_mapping{}),
      runner_(static_cast<std::size_t>(config_.actors.scheduler_threads)),
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
    counted = async_reply(call, *req, std::move(counted));
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

http_reply function_service::async_reply(const function_call& call,
                                         const http_request& request,
                                         http_reply reply) {
  std::string call_id;
  if (const auto* id = request.header("x-call-id")) call_id = *id;
  if (call_id.empty()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx",
                  static_cast<unsigned long long>(
                      (std::uint64_t{std::random_device{}()} << 32) |
                      std::random_device{}()));
    call_id = buf;
  }
  std::string callback;
  if (const auto* url = request.header("x-callback-url")) callback = *url;
  reply({202,
         "application/json",
         boost::json::serialize(boost::json::object{{"call_id", call_id}}),
         {{"X-Call-Id", call_id}}});
  const std::string function_name =
      call.what == function_call::kind::setup ? "emnist-setup" : "emnist-train";
  // The function's answer goes to the caller's callback, if it gave one.
  return [callback, call_id, function_name,
          t0 = clock_type::now()](http_response r) {
    // Nobody waits for an async call's answer: a failure is logged.
    if (r.status >= 400) {
      std::fprintf(stderr, "emnist: async call %s of %s failed (%d): %s\n",
                   call_id.c_str(), function_name.c_str(), r.status,
                   r.body.c_str());
    }
    if (callback.empty()) return;
    char seconds[32];
    std::snprintf(
        seconds, sizeof seconds, "%.6f",
        std::chrono::duration<double>(clock_type::now() - t0).count());
    auto sent =
        http_request_to("POST", callback, r.body,
                        {{"Content-Type", r.content_type},
                         {"X-Call-Id", call_id},
                         {"X-Duration-Seconds", seconds},
                         {"X-Function-Status", std::to_string(r.status)},
                         {"X-Function-Name", function_name}},
                        gateway_timeout);
    if (!sent) {
      std::fprintf(stderr, "emnist: callback of call %s: %s\n", call_id.c_str(),
                   sent.error().message.c_str());
    }
  };
}

expected<job_config> function_service::request_config(
    const http_request& request, std::vector<std::string>& overrides,
    std::string& field, const std::vector<std::string>& job_settings) const {
  for (const auto& [k, v] : request.query) {
    if (k == "job" || k == "worker_id") continue;
    overrides.push_back(k + "=" + v);
  }
  auto from_body = overrides_from_body(request.body);
  if (!from_body) {
    field = "body";
    return from_body.error();
  }
  overrides.insert(overrides.end(), from_body->begin(), from_body->end());
  // One at a time first, so that the error names the key at fault.
  for (const auto& o : overrides) {
    auto sources = base_;
    sources.overrides.push_back(o);
    if (auto c = load_config(sources); !c) {
      field = o.substr(0, o.find('='));
      return c.error();
    }
  }
  // The job's stored settings, then the request's: a request that differs
  // from its job is refused when it joins, naming the key.
  auto sources = base_;
  sources.overrides.insert(sources.overrides.end(), job_settings.begin(),
                           job_settings.end());
  sources.overrides.insert(sources.overrides.end(), overrides.begin(),
                           overrides.end());
  auto cfg = load_config(sources);
  if (!cfg) {
    field = "config";
    return cfg.error();
  }
  // The data is loaded once per process: a call cannot pick other data.
  for (const auto& [key, mine, theirs] :
       {std::tuple{"data.split", config_.data.split, cfg->data.split},
        std::tuple{"data.train", config_.data.train, cfg->data.train},
        std::tuple{"data.eval", config_.data.eval, cfg->data.eval}}) {
    if (mine != theirs) {
      field = key;
      return make_error(errc::invalid_argument,
                        std::string(key) + " = '" + theirs +
                            "': this function serves '" + mine +
                            "' (its data is loaded once, at start)");
    }
  }
  return cfg;
}

http_response function_service::setup(const http_request& request) {
  std::vector<std::string> overrides;
  std::string field;
  auto cfg = request_config(request, overrides, field);
  if (!cfg)
    return json_error(http_status_of(cfg.error()), cfg.error().message, field);
  const bool named = std::any_of(
      overrides.begin(), overrides.end(),
      [](const std::string& o) { return o.rfind("sync.job=", 0) == 0; });
  if (!named) {
    cfg->sync.job = new_job_name();
    overrides.push_back("sync.job=" + cfg->sync.job);
  }
  if (auto ok = set_up_job(*cfg); !ok) {
    return json_error(http_status_of(ok.error()), ok.error().message, "sync");
  }
  // Start the replicas through the gateway, each with the same overrides,
  // so that every one joins the job with its config.
  const std::string body = overrides_to_toml(overrides);
  boost::json::array failed;
  for (std::int64_t i = 0; i < cfg->train.replicas; ++i) {
    const std::string url =
        config_.http.gateway_url +
        "/async-function/emnist-train?job=" + cfg->sync.job +
        "&worker_id=" + std::to_string(i);
    std::vector<std::pair<std::string, std::string>> headers{
        {"Content-Type", "text/plain"}};
    if (!token_.empty())
      headers.emplace_back("Authorization", "Bearer " + token_);
    auto r = http_request_to("POST", url, body, headers, gateway_timeout);
    if (!r || r->status != 202) {
      failed.emplace_back(r ? "worker " + std::to_string(i) + ": " + url +
                                  " answered " + std::to_string(r->status)
                            : "worker " + std::to_string(i) + ": " +
                                  r.error().message);
    }
  }
  boost::json::object o{{"job", cfg->sync.job},
                        {"replicas", cfg->train.replicas},
                        {"status_url", status_url(cfg->sync.job)}};
  if (!failed.empty()) {
    o["error"] = "could not start every replica through http.gateway_url";
    o["field"] = "gateway";
    o["failed"] = std::move(failed);
    return json_response(502, o);
  }
  // 200: the job exists and its trains are started. (faas-cli shows a
  // body only on 200; the async route answers 202 before this runs.)
  o["started"] = cfg->train.replicas;
  return json_response(200, o);
}

std::string function_service::status_url(const std::string& job) const {
  return config_.http.gateway_url + "/function/emnist-setup/status?job=" + job;
}

expected<void> function_service::set_up_job(const job_config& cfg) const {
  const mlp_shape shape{data_->features,
                        static_cast<std::size_t>(cfg.model.hidden),
                        data_->classes};
  auto store = make_store(store_options_of(cfg, shape), shape.size());
  if (!store) return store.error();
  std::vector<float> initial(shape.size());
  init_parameters(
      shape,
      seed_for(static_cast<std::uint64_t>(cfg.model.seed), 0, rng_stream::init),
      initial);
  return create_job(*store, cfg, shape, initial);
}

std::variant<http_response, function_service::train_call>
function_service::parse_train(const http_request& request) {
  const std::string* job = request.query_value("job");
  if (job != nullptr) {
    if (auto refused = refuse_job(job)) return *refused;
  }
  const std::string* worker_text = request.query_value("worker_id");
  train_call call;
  if (worker_text != nullptr) {
    if (job == nullptr) {
      return json_error(400, "worker_id needs ?job=: the replica of which job",
                        "job");
    }
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
    auto cfg = request_config(request, call.overrides, field, one);
    if (!cfg)
      return json_error(http_status_of(cfg.error()), cfg.error().message,
                        field);
    call.cfg = std::move(*cfg);
    call.cfg.sync.job = new_job_name();
    call.job = call.cfg.sync.job;
    call.overrides.insert(call.overrides.begin(), one.begin(), one.end());
    if (auto ok = set_up_job(call.cfg); !ok) {
      return json_error(http_status_of(ok.error()), ok.error().message, "sync");
    }
    return call;
  }
  // A job named: its settings come from the store, so that the caller
  // repeats none of them.
  call.job = *job;
  auto settings = job_settings(*job);
  if (!settings) {
    const auto& e = settings.error();
    return json_error(http_status_of(e), e.message,
                      e.code == errc::not_found ? "job" : "sync");
  }
  auto cfg = request_config(request, call.overrides, field, settings->first);
  if (!cfg)
    return json_error(http_status_of(cfg.error()), cfg.error().message, field);
  call.cfg = std::move(*cfg);
  call.cfg.sync.job = *job;
  const auto replicas = static_cast<std::uint64_t>(call.cfg.train.replicas);
  if (worker_text == nullptr) {
    auto free = first_free_replica(settings->second, unix_ms());
    if (!free) {
      return json_error(409,
                        "job '" + *job + "' has no free replica: all " +
                            std::to_string(replicas) +
                            " are running or done (name one with worker_id)",
                        "worker_id");
    }
    call.worker = *free;
  } else if (call.worker >= replicas) {
    return json_error(400,
                      "worker_id " + std::to_string(call.worker) +
                          " of a job of " + std::to_string(replicas) +
                          " replicas (train.replicas)",
                      "worker_id");
  }
  return call;
}

expected<std::pair<std::vector<std::string>, job_status>>
function_service::job_settings(const std::string& job) const {
  auto cfg = config_;
  cfg.sync.job = job;
  if (cfg.sync.store != store_kind::memcached) {
    return make_error(errc::invalid_argument,
                      "?job= joins a job in memcached: this function runs "
                      "with sync.store = \"memory\"");
  }
  auto store = make_store(store_options_of(cfg, mlp_shape{}), 0);
  if (!store) return store.error();
  auto status = read_job_status(*store->records, job);
  if (!status) return status.error();
  // Every stored setting that is a key of the config, as a --set: how the
  // job trains (which the call may change), then what defines it.
  std::vector<std::string> settings;
  const auto keys = config_keys();
  for (const auto* group : {&status->meta.inherited, &status->meta.entries}) {
    for (const auto& [key, value] : *group) {
      const std::string& k = key;
      if (std::any_of(keys.begin(), keys.end(),
                      [&](const config_key_info& i) { return i.path == k; })) {
        settings.push_back(key + "=" + value);
      }
    }
  }
  return std::pair{std::move(settings), std::move(*status)};
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
  options.ids = {call->worker};
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
  metrics_.set_replica(call.job, call.worker, w.samples, result->accuracy);
  // The prototype's line, for whoever reads the function's log.
  std::fprintf(stderr, "Worker ID: %u Iterations: %llu Time: %.3f Name: %s\n",
               call.worker, static_cast<unsigned long long>(w.iterations),
               std::chrono::duration<double>(clock_type::now() - t0).count(),
               host_name().c_str());
  // Out of time but not done: go on in a fresh invocation, from the stored
  // progress (the prototype's one-function-per-iteration mode).
  bool continued = false;
  if (result->budget_spent && !result->reached && !result->interrupted &&
      w.iterations < static_cast<std::uint64_t>(call.cfg.train.max_epochs)) {
    continued = reinvoke(call);
  }
  auto summary = summary_object(*result);
  summary["job"] = call.job;
  summary["worker_id"] = call.worker;
  summary["continued"] = continued;
  summary["status_url"] = status_url(call.job);
  return {200, "application/json", readable_json(summary), {}};
}

bool function_service::reinvoke(const train_call& call) {
  const std::string url = config_.http.gateway_url +
                          "/async-function/emnist-train?job=" + call.job +
                          "&worker_id=" + std::to_string(call.worker);
  std::vector<std::pair<std::string, std::string>> headers{
      {"Content-Type", "text/plain"}};
  if (!token_.empty())
    headers.emplace_back("Authorization", "Bearer " + token_);
  auto r = http_request_to("POST", url, overrides_to_toml(call.overrides),
                           headers, gateway_timeout);
  if (r && r->status == 202) return true;
  std::fprintf(stderr, "emnist: worker %u could not re-invoke itself: %s\n",
               call.worker,
               r ? ("answered " + std::to_string(r->status)).c_str()
                 : r.error().message.c_str());
  return false;
}

http_response function_service::status(const http_request& request) {
  const std::string* job = request.query_value("job");
  if (auto refused = refuse_job(job)) return *refused;
  auto cfg = config_;
  cfg.sync.job = *job;
  if (cfg.sync.store != store_kind::memcached) {
    return json_error(400,
                      "status reads jobs from memcached: this function runs "
                      "with sync.store = \"memory\"",
                      "sync.store");
  }
  std::shared_ptr<record_store> store;
  {
    std::lock_guard guard(stores_mutex_);
    // A job's records change twice a second: pollers within
    // status_cache_ttl of each other share one read of the store.
    if (auto it = status_cache_.find(*job);
        it != status_cache_.end() &&
        clock_type::now() - it->second.read_at < status_cache_ttl) {
      return status_answer(request, *job, it->second.status);
    }
    if (auto it = status_stores_.find(*job); it != status_stores_.end()) {
      store = it->second;
    }
  }
  if (!store) {
    auto made = make_store(store_options_of(cfg, mlp_shape{}), 0);
    if (!made) {
      return json_error(http_status_of(made.error()), made.error().message,
                        "sync");
    }
    store = made->records;
    std::lock_guard guard(stores_mutex_);
    // A few jobs' connections are kept; a poller of many jobs reconnects.
    if (status_stores_.size() >= 8) status_stores_.clear();
    status_stores_[*job] = store;
  }
  auto s = read_job_status(*store, *job);
  if (!s && s.error().code == errc::unavailable) {
    // A client that gave up on a server stays failed: the next read
    // connects afresh.
    std::lock_guard guard(stores_mutex_);
    status_stores_.erase(*job);
  }
  if (!s) {
    return json_error(http_status_of(s.error()), s.error().message,
                      s.error().code == errc::not_found ? "job" : "sync");
  }
  {
    std::lock_guard guard(stores_mutex_);
    if (status_cache_.size() >= 64) status_cache_.clear();
    status_cache_[*job] = {clock_type::now(), *s};
  }
  history_.note(*job, *s);
  return status_answer(request, *job, *s);
}

http_response function_service::status_answer(const http_request& request,
                                              const std::string& job,
                                              const job_status& s) const {
  std::string body = job_status_json(job, s, unix_ms());
  if (const auto* h = request.query_value("history");
      h != nullptr && *h == "1") {
    auto o = boost::json::parse(body).as_object();
    o["history"] = history_.of(job);
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
  auto cfg = config_;
  cfg.sync.job = *job;
  auto m = read_job_model(cfg);
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
