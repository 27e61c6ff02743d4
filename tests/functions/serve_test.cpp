// `emnist serve` as users run it: a real process, real HTTP over loopback,
// real memcached and EMNIST data. The whole setup -> async train fan-out ->
// status -> reached flow, every route, bad input, auth, the async
// callback, and SIGTERM while training, then a resume.
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/json.hpp>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "jobs/job_lifecycle.hpp"
#include "jobs/store_config.hpp"
#include "model/mlp.hpp"
#include "runtime/data/model_file.hpp"
#include "runtime/data/onnx_file.hpp"
#include "runtime/net/http_client.hpp"
#include "runtime/net/http_server.hpp"
#include "runtime/store/store_factory.hpp"
#include "support/headless_chromium.hpp"
#include "support/memcached_server.hpp"
#include "support/png_writer.hpp"
#include "support/ports.hpp"
#include "support/serve_process.hpp"
#include "test_support.hpp"

using namespace emnist;
using namespace std::chrono_literals;

namespace {

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

/// A server of both functions whose gateway is itself: small data,
/// memcached, evaluations often.
std::vector<std::string> serve_args(const test::memcached_server& mc,
                                    std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {
      "--function", "all",
      "--data",     test::data_dir().string(),
      "--set",      "data.train=test[:20000]",
      "--set",      "data.eval=test[110000:]",
      "--set",      "train.eval_every=50",
      "--set",      "sync.store=memcached",
      "--set",      "sync.servers=[\"" + mc.address() + "\"]",
      "--set",      "http.gateway_url=http://127.0.0.1:{port}",
      "--set",      "http.secret_file=/nonexistent/emnist-token"};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

using header_list = std::vector<std::pair<std::string, std::string>>;

http_client_response call(const std::string& method, const std::string& url,
                          const std::string& body = "",
                          const header_list& headers = {}) {
  auto r = http_request_to(method, url, body, headers, 30s);
  REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
  return *r;
}

boost::json::object json_of(const http_client_response& r) {
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body, ec);
  REQUIRE_MESSAGE(!ec, r.body);
  REQUIRE(v.is_object());
  return v.as_object();
}

/// Polls /status?job=J until `done(status)` or the time is up.
boost::json::object wait_status(
    const test::serve_process& s, const std::string& job,
    const std::function<bool(const boost::json::object&)>& done,
    std::chrono::seconds limit, const header_list& headers = {}) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  boost::json::object last;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = call("GET", s.url("/status?job=" + job), "", headers);
    if (r.status == 200) {
      last = json_of(r);
      if (done(last)) return last;
    }
    std::this_thread::sleep_for(100ms);
  }
  FAIL("status of " << job << " did not get there: "
                    << boost::json::serialize(last) << "\n"
                    << s.log());
  return last;
}

bool all_done(const boost::json::object& st) {
  for (const auto& w : st.at("workers").as_array()) {
    if (w.is_null() || !w.at("done").as_bool()) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("serve: setup fans out train replicas that reach the target") {
  test::memcached_server mc;
  test::serve_process s(serve_args(mc));
  // The same request faas-cli invoke sends: POST, text/plain, JSON body.
  // 200 with the job: faas-cli shows a body only on 200.
  auto setup = call("POST", s.url("/function/emnist-setup?train.replicas=2"),
                    R"({"train": {"target_accuracy": 0.6}})",
                    {{"Content-Type", "text/plain"}});
  REQUIRE_MESSAGE(setup.status == 200, setup.body);
  CHECK(json_of(setup).at("started").as_int64() == 2);
  auto job = json_of(setup);
  const std::string name(job.at("job").as_string());
  CHECK(job.at("replicas").as_int64() == 2);
  CHECK(has(std::string(job.at("status_url").as_string()),
            "/function/emnist-setup/status?job=" + name));

  auto st = wait_status(
      s, name,
      [](const auto& o) { return o.at("reached").as_bool() && all_done(o); },
      60s);
  CHECK(st.at("best_accuracy").as_double() >= 0.6);
  CHECK(st.at("workers").as_array().size() == 2);
  // Status is also reachable the way the gateway forwards it.
  auto forwarded =
      call("GET", s.url("/function/emnist-setup/status?job=" + name));
  CHECK(forwarded.status == 200);
  // Each replica logged the prototype's line.
  CHECK(has(s.log(), "Worker ID: 0 Iterations: "));
  CHECK(has(s.log(), "Worker ID: 1 Iterations: "));

  auto metrics = call("GET", s.url("/metrics"));
  CHECK(metrics.status == 200);
  for (const char* family :
       // Setup calls each replica once, synchronously, through the gateway.
       {"emnist_http_requests_total{route=\"/function/emnist-train\","
        "code=\"200\"} 2",
        "emnist_http_in_flight", "emnist_training_samples_total{job=\"",
        "emnist_pushes_total", "emnist_cas_retries_total",
        "emnist_sync_wait_seconds_total", "emnist_accuracy{job=\""}) {
    CAPTURE(family);
    CHECK(has(metrics.body, family));
  }
  auto exit = s.terminate(10s);
  REQUIRE(exit.has_value());
  CHECK(exit->status == 0);
}

TEST_CASE("serve: routes, methods and bad input") {
  test::memcached_server mc;
  test::serve_process s(serve_args(mc, {"--set", "http.max_body_bytes=2000"}));
  CHECK(call("GET", s.url("/_/health")).status == 200);
  CHECK(call("GET", s.url("/_/ready")).status == 200);
  CHECK(call("POST", s.url("/metrics")).status == 405);
  {  // 100 connections at once
    std::vector<std::thread> clients;
    std::atomic<int> ok{0};
    for (int i = 0; i < 100; ++i) {
      clients.emplace_back([&] {
        auto r = http_request_to("GET", s.url("/_/health"), "", {}, 10s);
        if (r && r->status == 200) ++ok;
      });
    }
    for (auto& t : clients) t.join();
    CHECK(ok == 100);
  }

  struct bad_case {
    std::string method, path, body;
    int status;
    std::string field;
  };
  const std::vector<bad_case> cases = {
      {"GET", "/nowhere", "", 404, "path"},
      {"POST", "/function/emnist-nothing", "", 404, "function"},
      {"GET", "/status", "", 400, "job"},
      {"GET", "/status?job=no-such-job", "", 404, "job"},
      {"GET", "/status?job=bad%20name", "", 400, "job"},
      {"POST", "/function/emnist-train?worker_id=0", "", 400, "job"},
      {"POST", "/function/emnist-train?job=j1&worker_id=abc", "", 400,
       "worker_id"},
      {"POST", "/function/emnist-train?job=no-such-job&worker_id=0", "", 404,
       "job"},
      {"POST", "/function/emnist-setup?train.replicas=0", "", 400,
       "train.replicas"},
      {"POST", "/function/emnist-setup?no.such_key=1", "", 400, "no.such_key"},
      {"POST", "/function/emnist-setup", "{not json", 400, "body"},
      {"POST", "/function/emnist-setup", "[train\nreplicas = ", 400, "body"},
      {"POST", "/function/emnist-setup", R"({"data": {"train": "train"}})", 400,
       "data.train"},
      {"POST", "/function/emnist-setup", std::string(2001, ' '), 413, "body"},
      {"DELETE", "/function/emnist-setup", "", 405, "method"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.method);
    CAPTURE(c.path);
    auto r = call(c.method, s.url(c.path), c.body);
    CHECK(r.status == c.status);
    // Every refusal is JSON that names what was wrong (json_of requires an
    // object).
    const auto error = json_of(r);
    REQUIRE(error.contains("field"));
    CHECK(std::string(error.at("field").as_string()) == c.field);
  }
  // A body exactly at the limit is read (then refused as config: a
  // TOML comment of 1999 characters is valid, and sets nothing).
  auto at_limit = call("POST", s.url("/function/emnist-setup?train.replicas=0"),
                       "#" + std::string(1999, 'x'));
  CHECK(at_limit.status == 400);
  // TOML bodies work as JSON ones do.
  auto toml = call("POST", s.url("/function/emnist-setup?sync.job=toml-job"),
                   "[train]\nreplicas = 1\ntarget_accuracy = 0.3\n");
  CHECK(toml.status == 200);
  wait_status(s, "toml-job", all_done, 60s);
}

TEST_CASE("serve: auth, when a secret file exists") {
  test::memcached_server mc;
  test::scratch_dir dir;
  test::write_file(dir.path() / "token", "s3cret\n");
  auto args = serve_args(mc);
  args.push_back("--set");
  args.push_back("http.secret_file=" + (dir.path() / "token").string());
  test::serve_process s(args);
  CHECK(call("GET", s.url("/_/health")).status == 200);
  CHECK(call("GET", s.url("/_/ready")).status == 200);
  auto no_token = call("GET", s.url("/metrics"));
  CHECK(no_token.status == 401);
  CHECK(std::string(json_of(no_token).at("field").as_string()) ==
        "authorization");
  CHECK(call("GET", s.url("/metrics"), "", {{"Authorization", "Bearer nope"}})
            .status == 401);
  const header_list auth = {{"Authorization", "Bearer s3cret"}};
  CHECK(call("GET", s.url("/metrics"), "", auth).status == 200);
  // The fan-out carries the token to the gateway (itself here).
  auto setup = call("POST", s.url("/function/emnist-setup?sync.job=auth-job"),
                    R"({"train": {"target_accuracy": 0.3}})", auth);
  REQUIRE_MESSAGE(setup.status == 200, setup.body);
  wait_status(s, "auth-job", all_done, 60s, auth);
}

TEST_CASE("serve: an async call posts its result to the callback URL") {
  test::memcached_server mc;
  test::serve_process s(serve_args(mc));
  const std::string config = R"({"train": {"target_accuracy": 0.3}})";
  auto setup =
      call("POST", s.url("/function/emnist-setup?sync.job=cb-job"), config);
  REQUIRE_MESSAGE(setup.status == 200, setup.body);
  wait_status(s, "cb-job", all_done, 60s);

  // A callback receiver of our own.
  std::mutex m;
  std::condition_variable cv;
  std::optional<http_request> received;
  http_server_options o;
  o.listen = "127.0.0.1:0";
  http_server receiver(o, [&](http_request r, http_reply reply) {
    {
      std::lock_guard g(m);
      received = std::move(r);
    }
    cv.notify_all();
    reply({200, "text/plain", "", {}});
  });
  auto port = receiver.start();
  REQUIRE(port.has_value());
  // A call whose config differs from the job's is refused, naming the key.
  auto other = call("POST", s.url("/function/emnist-train?job=cb-job&worker_id="
                                  "0&train.target_accuracy=0.5"));
  CHECK(other.status == 400);
  CHECK(has(other.body, "train.target_accuracy"));
  auto accepted =
      call("POST", s.url("/async-function/emnist-train?job=cb-job&worker_id=0"),
           config,
           {{"X-Callback-Url",
             "http://127.0.0.1:" + std::to_string(*port) + "/done"},
            {"X-Call-Id", "call-42"}});
  CHECK(accepted.status == 202);
  std::unique_lock lock(m);
  REQUIRE(cv.wait_for(lock, 30s, [&] { return received.has_value(); }));
  CHECK(received->method == "POST");
  CHECK(received->path == "/done");
  CHECK(*received->header("x-call-id") == "call-42");
  CHECK(*received->header("x-function-status") == "200");
  CHECK(*received->header("x-function-name") == "emnist-train");
  CHECK(std::stod(*received->header("x-duration-seconds")) >= 0);
  auto v = boost::json::parse(received->body).as_object();
  CHECK(v.at("job").as_string() == "cb-job");
}

TEST_CASE(
    "serve: SIGTERM while training saves progress, then a restart resumes") {
  test::memcached_server mc;
  std::string job = "sigterm-job";
  double epochs_at_stop = 0;
  {
    test::serve_process s(serve_args(
        mc, {"--set", "train.target_accuracy=0.99", "--set",
             "train.max_epochs=1000", "--set", "http.shutdown_seconds=5",
             "--set", "http.max_inflight=1"}));
    auto setup = call("POST", s.url("/function/emnist-setup?sync.job=" + job));
    REQUIRE_MESSAGE(setup.status == 200, setup.body);
    auto st = wait_status(
        s, job,
        [](const auto& o) {
          const auto& w = o.at("workers").as_array()[0];
          return !w.is_null() && w.at("epochs").as_int64() >= 1;
        },
        120s);
    // Its one call slot is taken: not ready, and a call more gets 429.
    CHECK(call("GET", s.url("/_/ready")).status == 429);
    auto busy = call(
        "POST", s.url("/function/emnist-train?job=" + job + "&worker_id=0"));
    CHECK(busy.status == 429);
    CHECK(has(busy.body, "\"field\":\"max_inflight\""));
    auto exit = s.terminate(10s);
    REQUIRE_MESSAGE(exit.has_value(), s.log());
    CHECK(exit->status == 0);
    CHECK(exit->seconds < 5.5);
    CHECK(has(s.log(), "Worker ID: 0 Iterations: "));
    epochs_at_stop = static_cast<double>(
        st.at("workers").as_array()[0].at("epochs").as_int64());
  }
  test::serve_process again(serve_args(
      mc, {"--set", "train.target_accuracy=0.99", "--set",
           "train.max_epochs=1000", "--set", "train.max_seconds=1"}));
  // The record says done (stopped by the signal) and where it was.
  auto st = call("GET", again.url("/status?job=" + job));
  REQUIRE(st.status == 200);
  const auto status = json_of(st);
  const auto& w = status.at("workers").as_array()[0].as_object();
  CHECK(w.at("done").as_bool());
  CHECK(static_cast<double>(w.at("epochs").as_int64()) >= epochs_at_stop);
  // A train call goes on from there, for its one-second budget.
  auto r = call(
      "POST", again.url("/function/emnist-train?job=" + job + "&worker_id=0"));
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto summary = json_of(r);
  CHECK(summary.at("resumed").as_bool());
  CHECK(summary.at("budget_spent").as_bool());
  CHECK(static_cast<double>(
            summary.at("workers").as_array()[0].at("iterations").as_int64()) >=
        epochs_at_stop);
  // Out of time, not done: it re-invoked itself through the gateway.
  CHECK(summary.at("continued").as_bool());
  CHECK(again.terminate(10s).has_value());
}

TEST_CASE("serve: kill -9 mid-job, then a new process resumes the job") {
  // No drain, no last push, no last record: what a lost node leaves. The
  // store still has the parameters, the metadata and the replica's last
  // progress record; a train call of a new process goes on from there
  // (the route of docs/deploy.md: emnist-train?job=J&worker_id=N).
  test::memcached_server mc;
  const std::string job = "kill9-job";
  std::int64_t epochs_before = 0;
  {
    test::serve_process s(serve_args(
        mc, {"--set", "train.target_accuracy=0.99", "--set",
             "train.max_epochs=1000", "--set", "http.max_inflight=1"}));
    auto setup = call("POST", s.url("/function/emnist-setup?sync.job=" + job));
    REQUIRE_MESSAGE(setup.status == 200, setup.body);
    auto st = wait_status(
        s, job,
        [](const auto& o) {
          const auto& w = o.at("workers").as_array()[0];
          return !w.is_null() && w.at("epochs").as_int64() >= 1;
        },
        120s);
    epochs_before = st.at("workers").as_array()[0].at("epochs").as_int64();
    s.kill();
  }
  test::serve_process again(serve_args(
      mc, {"--set", "train.target_accuracy=0.99", "--set",
           "train.max_epochs=1000", "--set", "train.max_seconds=1"}));
  // Its record was never closed: not done, at least where it was seen.
  auto st = call("GET", again.url("/status?job=" + job));
  REQUIRE_MESSAGE(st.status == 200, st.body);
  const auto status = json_of(st);
  const auto& w = status.at("workers").as_array()[0].as_object();
  CHECK_FALSE(w.at("done").as_bool());
  CHECK(w.at("epochs").as_int64() >= epochs_before);
  const auto replica0 =
      again.url("/function/emnist-train?job=" + job + "&worker_id=0");
  // While its heartbeat is fresh, the replica may still run somewhere (a
  // process that is only slow): a call is refused rather than run it twice.
  auto refused = call("POST", replica0);
  CHECK(refused.status == 409);
  CHECK(has(refused.body, "runs in another call"));
  // Once the heartbeat is abandoned_after_ms old, the slot is free again.
  wait_status(
      again, job,
      [](const boost::json::object& o) {
        return o.at("workers")
                   .as_array()[0]
                   .at("heartbeat_age_seconds")
                   .to_number<double>() > abandoned_after_ms / 1000.0;
      },
      60s);
  auto r = call("POST", replica0);
  REQUIRE_MESSAGE(r.status == 200, r.body);
  auto summary = json_of(r);
  CHECK(summary.at("resumed").as_bool());
  // From its stored progress, not from epoch 0.
  CHECK(summary.at("workers").as_array()[0].at("iterations").as_int64() >=
        epochs_before);
  CHECK(summary.at("accuracy").as_double() > 0.5);
  CHECK(again.terminate(10s).has_value());
}

TEST_CASE("serve: concurrent async calls beyond http.max_inflight get 429") {
  // Eight train calls at once through the gateway's async route of a
  // process that takes three: three are accepted (202) and run, five are
  // pushed back (429, as the gateway's queue retries them), and nothing
  // more runs than the limit.
  test::memcached_server mc;
  const std::string job = "async-limit";
  const std::vector<std::string> job_settings = {
      "--set", "train.replicas=8",     "--set", "train.target_accuracy=0.99",
      "--set", "train.max_epochs=1000"};
  // The job, set up as emnist-setup sets it up (without its fan-out).
  job_config cfg;
  cfg.data.train = "test[:20000]";
  cfg.data.eval = "test[110000:]";
  cfg.train.replicas = 8;
  cfg.train.target_accuracy = 0.99;
  cfg.sync.store = store_kind::memcached;
  cfg.sync.servers = {mc.address()};
  cfg.sync.job = job;
  const mlp_shape shape{784, 100, 47};
  auto store = make_store(store_options_of(cfg, shape), shape.size());
  REQUIRE(store.has_value());
  std::vector<float> initial(shape.size());
  init_parameters(shape, 1, initial);
  REQUIRE(set_up_job(*store, cfg, shape, initial, setup_mode::create));

  auto args = serve_args(
      mc, {"--set", "http.max_inflight=3", "--set", "http.shutdown_seconds=5"});
  args.insert(args.end(), job_settings.begin(), job_settings.end());
  test::serve_process s(args);
  std::vector<int> statuses(8, 0);
  std::vector<std::thread> callers;
  for (int id = 0; id < 8; ++id) {
    callers.emplace_back([&, id] {
      auto r = http_request_to("POST",
                               s.url("/async-function/emnist-train?job=" + job +
                                     "&worker_id=" + std::to_string(id)),
                               "", {}, 30s);
      statuses[static_cast<std::size_t>(id)] = r ? r->status : -1;
    });
  }
  for (auto& t : callers) t.join();
  const auto accepted = std::count(statuses.begin(), statuses.end(), 202);
  const auto refused = std::count(statuses.begin(), statuses.end(), 429);
  CHECK(accepted == 3);
  CHECK(refused == 5);
  // The three train; the process says it takes no more.
  wait_status(
      s, job,
      [](const auto& o) {
        int training = 0;
        for (const auto& w : o.at("workers").as_array()) {
          if (!w.is_null() && w.at("steps").as_int64() > 0) ++training;
        }
        return training == 3;
      },
      60s);
  CHECK(call("GET", s.url("/_/ready")).status == 429);
  auto exit = s.terminate(10s);
  REQUIRE_MESSAGE(exit.has_value(), s.log());
  CHECK(exit->status == 0);
}

TEST_CASE("serve: emnist-train alone runs a job of its own, or joins one") {
  // `faas-cli invoke emnist-train` with nothing: a one-replica job under a
  // new name, to the target, answered with its summary. With ?job=J: J's
  // settings from the store (the caller repeats none), the first free
  // replica; a setting that differs from J's is refused, naming the key.
  test::memcached_server mc;
  auto args = serve_args(mc, {"--set", "train.target_accuracy=0.6"});
  test::serve_process s(args);
  auto alone = call("POST", s.url("/function/emnist-train"), "",
                    {{"Content-Type", "text/plain"}});
  REQUIRE_MESSAGE(alone.status == 200, alone.body);
  const auto summary = json_of(alone);
  CHECK(summary.at("reached").as_bool());
  CHECK(summary.at("replicas").as_int64() == 1);
  CHECK(summary.at("worker_id").as_int64() == 0);
  const std::string own = std::string(summary.at("job").as_string());
  CHECK(own.rfind("job-", 0) == 0);
  CHECK(has(std::string(summary.at("status_url").as_string()),
            "/function/emnist-setup/status?job=" + own));
  CHECK(call("GET", s.url("/status?job=" + own)).status == 200);

  // The job's model, as the setup function's route serves it.
  auto npz = call(
      "GET", s.url("/function/emnist-setup/model?job=" + own + "&format=npz"));
  REQUIRE_MESSAGE(npz.status == 200, npz.body);
  CHECK(npz.header("content-disposition") ==
        "attachment; filename=\"" + own + ".npz\"");
  CHECK(npz.header("x-emnist-job-reached") == "true");
  auto model = parse_npz(
      std::as_bytes(std::span(npz.body.data(), npz.body.size())), "answer");
  REQUIRE_MESSAGE(model.has_value(), test::error_text(model));
  CHECK(model->shape.classes == 47);
  CHECK(model->labels[10] == "A");  // this process's mapping
  auto onnx = call("GET", s.url("/model?job=" + own));  // ONNX by default
  REQUIRE(onnx.status == 200);
  CHECK(parse_onnx(std::as_bytes(std::span(onnx.body.data(), onnx.body.size())),
                   "answer")
            ->parameters == model->parameters);
  CHECK(call("GET", s.url("/model?job=" + own + "&format=pt")).status == 400);
  CHECK(call("GET", s.url("/model?job=nowhere")).status == 404);
  CHECK(call("GET", s.url("/model")).status == 400);
  CHECK(call("POST", s.url("/model?job=" + own)).status == 405);

  // A job of two replicas with settings of its own, set up elsewhere.
  job_config cfg;
  cfg.data.train = "test[:20000]";
  cfg.data.eval = "test[110000:]";
  cfg.train.replicas = 2;
  cfg.train.learning_rate = 0.05;
  // Out of reach in the one epoch the job allows (the process's own
  // default is 20): a replica that joins stops where the job says.
  cfg.train.target_accuracy = 0.99;
  cfg.train.max_epochs = 1;
  cfg.sync.store = store_kind::memcached;
  cfg.sync.servers = {mc.address()};
  cfg.sync.job = "joined";
  const mlp_shape shape{784, 100, 47};
  auto store = make_store(store_options_of(cfg, shape), shape.size());
  REQUIRE(store.has_value());
  std::vector<float> initial(shape.size());
  init_parameters(shape, 1, initial);
  REQUIRE(set_up_job(*store, cfg, shape, initial, setup_mode::create));

  auto first = call("POST", s.url("/function/emnist-train?job=joined"));
  REQUIRE_MESSAGE(first.status == 200, first.body);
  CHECK(json_of(first).at("worker_id").as_int64() == 0);
  CHECK(json_of(first).at("workers").as_array()[0].at("iterations") == 1);
  CHECK_FALSE(json_of(first).at("reached").as_bool());
  // Replica 0 is done: the next call takes replica 1.
  auto second = call("POST", s.url("/function/emnist-train?job=joined"));
  REQUIRE_MESSAGE(second.status == 200, second.body);
  CHECK(json_of(second).at("worker_id").as_int64() == 1);
  // Both done: no free replica left.
  auto full = call("POST", s.url("/function/emnist-train?job=joined"));
  CHECK(full.status == 409);
  CHECK(has(full.body, "no free replica"));
  // A setting that differs from the job's.
  auto differs =
      call("POST", s.url("/function/emnist-train?job=joined&worker_id=0"
                         "&train.learning_rate=0.2"));
  CHECK(differs.status == 400);
  CHECK(has(differs.body, "train.learning_rate"));
  // worker_id without a job, and a job that is not there.
  CHECK(call("POST", s.url("/function/emnist-train?worker_id=1")).status ==
        400);
  CHECK(call("POST", s.url("/function/emnist-train?job=nowhere")).status ==
        404);
}

TEST_CASE("serve: emnist-predict answers PNGs and pixels, from a file or job") {
  test::memcached_server mc;
  test::scratch_dir dir;
  test::serve_process all(
      serve_args(mc, {"--set", "train.target_accuracy=0.6"}));
  auto trained = call("POST", all.url("/function/emnist-train"));
  REQUIRE_MESSAGE(trained.status == 200, trained.body);
  const std::string job = std::string(json_of(trained).at("job").as_string());
  // A fresh job: nothing was stored to resume from.
  CHECK_FALSE(json_of(trained).at("resumed").as_bool());
  auto file = call("GET", all.url("/model?job=" + job + "&format=npz"));
  REQUIRE(file.status == 200);
  test::write_file(dir.path() / "model.npz", file.body);
  auto args = serve_args(
      mc, {"--set", "predict.model=" + (dir.path() / "model.npz").string(),
           "--set", "http.max_body_bytes=4000"});
  args[1] = "predict";  // --function
  test::serve_process predictor(args);
  // It trains nothing: of the data, it loads the labels alone. (It says so
  // just after it starts listening: wait for the line.)
  const auto says = [&](const std::string& line) {
    for (int i = 0; i < 100 && !has(predictor.log(), line); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return has(predictor.log(), line);
  };
  CHECK(says("no samples loaded (47 class labels)"));

  // A real test sample, drawn upright as a person sees it.
  const auto& data = test::bymerge_data(20000);
  const std::uint8_t* stored = data.eval.image(data.eval.size() - 1);
  std::vector<std::uint8_t> upright(784);
  for (std::size_t y = 0; y < 28; ++y) {
    for (std::size_t x = 0; x < 28; ++x)
      upright[y * 28 + x] = stored[x * 28 + y];
  }
  const std::string png =
      test::png_bytes(28, 28, test::png_kind::grey, upright);
  const header_list as_png{{"Content-Type", "image/png"}};
  auto from_file = call("POST", predictor.url("/"), png, as_png);
  REQUIRE_MESSAGE(from_file.status == 200, from_file.body);
  auto from_job =
      call("POST", all.url("/function/emnist-predict?job=" + job), png, as_png);
  REQUIRE_MESSAGE(from_job.status == 200, from_job.body);
  const auto top = json_of(from_file).at("predictions").as_array();
  REQUIRE(top.size() == 5);
  // The same parameters either way: the same answer.
  CHECK(json_of(from_job).at("predictions").as_array() == top);
  CHECK(json_of(from_job).at("job").as_string() == job);
  CHECK(top[0].at("probability").as_double() >=
        top[1].at("probability").as_double());
  std::string pixels = "{\"pixels\": [";
  for (std::size_t i = 0; i < upright.size(); ++i) {
    pixels += (i ? "," : "") + std::to_string(upright[i]);
  }
  auto from_pixels = call("POST", predictor.url("/"), pixels + "]}",
                          {{"Content-Type", "application/json"}});
  REQUIRE_MESSAGE(from_pixels.status == 200, from_pixels.body);
  CHECK(json_of(from_pixels).at("predictions").as_array()[0].at("class") ==
        top[0].at("class"));

  // Bad input: 400 (or 413, 405) naming what is wrong.
  const auto error_of = [&](const http_client_response& r) {
    return std::string(json_of(r).at("error").as_string());
  };
  auto text = call("POST", predictor.url("/"), "GIF89a...", as_png);
  CHECK(text.status == 400);
  CHECK(has(error_of(text), "not a PNG"));
  auto cut =
      call("POST", predictor.url("/"), png.substr(0, png.size() / 2), as_png);
  CHECK(cut.status == 400);
  CHECK(has(error_of(cut), "the body: "));
  auto empty = call("POST", predictor.url("/"), "", as_png);
  CHECK(empty.status == 400);
  CHECK(has(error_of(empty), "empty body"));
  // A decompression bomb (3 KB, 3 MiB inflated, for 28x28 pixels) is
  // refused once its rows are inflated, and the refusals are logged: one
  // line, then a count of those left out.
  const std::string bomb = test::png_bomb({28, 28, 8, 0, 0}, 3);
  REQUIRE(bomb.size() < 4000);
  for (int i = 0; i < 5; ++i) {
    auto refused = call("POST", predictor.url("/"), bomb, as_png);
    CHECK(refused.status == 400);
    CHECK(has(error_of(refused), "the body: too much image data"));
  }
  // The first refusal was logged ("not a PNG" above), those within the
  // next second were counted; the first one after is logged with the
  // count.
  CHECK(says("emnist-predict: refused an image (400): the body: not a PNG"));
  std::this_thread::sleep_for(1100ms);
  CHECK(call("POST", predictor.url("/"), bomb, as_png).status == 400);
  CHECK(
      says("emnist-predict: refused an image (400): the body: too much "
           "image data"));
  CHECK(has(predictor.log(), " more in the last "));
  // Noise does not compress: a PNG of about 10 kB.
  std::vector<std::uint8_t> noise(100 * 100);
  std::minstd_rand rng(5);
  for (auto& v : noise) v = static_cast<std::uint8_t>(rng() >> 8);
  auto large =
      call("POST", predictor.url("/"),
           test::png_bytes(100, 100, test::png_kind::grey, noise), as_png);
  CHECK(large.status == 413);
  auto few = call("POST", predictor.url("/"), "{\"pixels\": [1, 2, 3]}");
  CHECK(few.status == 400);
  CHECK(has(error_of(few), "pixels: 3 numbers, expected 784"));
  CHECK(call("GET", predictor.url("/")).status == 405);
  CHECK(call("POST", all.url("/async-function/emnist-predict"), png, as_png)
            .status == 400);
  auto nowhere = call("POST", all.url("/function/emnist-predict?job=nowhere"),
                      png, as_png);
  CHECK(nowhere.status == 404);
  auto no_model =
      call("POST", all.url("/function/emnist-predict"), png, as_png);
  CHECK(no_model.status == 400);
  CHECK(has(error_of(no_model), "no model"));
}

TEST_CASE("serve: the live page draws a job in headless Chromium") {
  // The page as a browser runs it: Debian's chromium loads /ui?job=J
  // through the gateway's path, runs its script against the status route,
  // and the DOM it leaves has a table row and a chart line per replica and
  // the target's line.
  test::memcached_server mc;
  test::serve_process s(serve_args(mc, {"--set", "train.target_accuracy=0.6"}));
  auto setup = call("POST", s.url("/function/emnist-setup"),
                    R"({"train": {"replicas": 2}, "sync": {"job": "ui-job"}})",
                    {{"Content-Type", "application/json"}});
  REQUIRE_MESSAGE(setup.status == 200, setup.body);
  // Poll while it trains, as the page would: the route keeps what it saw.
  const auto st = wait_status(
      s, "ui-job",
      [](const boost::json::object& o) { return o.at("reached").as_bool(); },
      60s);
  auto history = json_of(
      call("GET", s.url("/function/emnist-setup/status?job=ui-job&history=1")));
  const auto& lines = history.at("history").as_array();
  REQUIRE(lines.size() == 2);
  // The replica that reached the target evaluated; the other may not have
  // before the job stopped (a job to 0.6 takes a fraction of a second).
  std::size_t points = 0;
  for (const auto& line : lines) {
    for (const auto& point : line.as_array()) {
      CHECK(point.as_array().size() == 3);  // [ms, accuracy, samples]
      ++points;
    }
  }
  CHECK(points >= 1);
  CHECK(!json_of(call("GET", s.url("/status?job=ui-job"))).contains("history"));

  auto page = call("GET", s.url("/function/emnist-setup/ui?job=ui-job"));
  REQUIRE(page.status == 200);
  CHECK(page.header("content-type") == "text/html; charset=utf-8");
  // It runs under a strict policy (the DOM below shows that its script
  // ran), and is never sniffed as anything else.
  CHECK(page.header("content-security-policy").rfind("default-src 'none'", 0) ==
        0);
  CHECK(page.header("x-content-type-options") == "nosniff");
  // Self-contained: nothing loaded from elsewhere (the one URL in it is
  // SVG's namespace name, which nothing fetches).
  for (const char* external :
       {"src=", "href=", "url(", "@import", "https://"}) {
    CAPTURE(external);
    CHECK(!has(page.body, external));
  }
  CHECK(call("POST", s.url("/ui?job=ui-job")).status == 405);

  const std::string command =
      "chromium --headless --no-sandbox --disable-gpu "
      "--virtual-time-budget=3000 --dump-dom '" +
      s.url("/function/emnist-setup/ui?job=ui-job") + "' 2>/dev/null";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string dom;
  std::array<char, 4096> buf{};
  while (std::size_t n = std::fread(buf.data(), 1, buf.size(), pipe)) {
    dom.append(buf.data(), n);
  }
  REQUIRE(::pclose(pipe) == 0);
  const auto count = [&](const std::string& part) {
    std::size_t n = 0;
    for (auto at = dom.find(part); at != std::string::npos;
         at = dom.find(part, at + 1)) {
      ++n;
    }
    return n;
  };
  CHECK(count("<polyline class=\"replica\"") == 2);
  CHECK(count("class=\"target\"") == 1);
  CHECK(count("<tr><td>") == 2);  // one body row per replica
  CHECK(has(dom, "target reached"));
  CHECK(has(dom, "emnist job ui-job"));
  // What "reached" stands for (wait_status returned only once it said so):
  // an evaluation at the target.
  REQUIRE(st.at("best_accuracy").is_double());
  CHECK(st.at("best_accuracy").as_double() >= 0.6);
}

TEST_CASE("serve: a setup cannot wipe a job, pick the store or its timeouts") {
  test::memcached_server mc;
  test::serve_process s(serve_args(mc));
  const auto setup_url = s.url("/function/emnist-setup");
  const std::string body =
      R"({"train": {"replicas": 1, "target_accuracy": 0.5},
          "sync": {"job": "kept"}})";
  auto first = call("POST", setup_url, body);
  REQUIRE_MESSAGE(first.status == 200, first.body);
  // Finished: reached, and its replica no longer running (it stops a
  // moment after the evaluation that reached the target; under
  // ThreadSanitizer that moment was long enough to be told "running").
  wait_status(
      s, "kept",
      [](const auto& o) { return o.at("state").as_string() == "finished"; },
      60s);
  // The same name again: refused, naming the job and its state; the job
  // keeps its progress.
  auto again = call("POST", setup_url, body);
  CHECK(again.status == 409);
  CHECK(has(again.body, "job 'kept' exists: finished"));
  CHECK(has(again.body, "\"field\":\"job\""));
  auto kept = json_of(call("GET", s.url("/status?job=kept")));
  CHECK(kept.at("reached").as_bool());
  CHECK(kept.at("best_accuracy").as_double() >= 0.5);
  // Asked for: replaced, from scratch.
  auto replaced = call("POST", setup_url + "?replace=true", body);
  REQUIRE_MESSAGE(replaced.status == 200, replaced.body);
  CHECK(call("POST", setup_url + "?replace=maybe", body).status == 400);

  // Two set-ups of one new name at once: one job.
  std::vector<int> statuses(2, 0);
  {
    std::vector<std::thread> two;
    for (int i = 0; i < 2; ++i) {
      two.emplace_back([&, i] {
        statuses[i] =
            call(
                "POST", setup_url,
                R"({"train": {"target_accuracy": 0.5}, "sync": {"job": "twice"}})")
                .status;
      });
    }
    for (auto& t : two) t.join();
  }
  std::sort(statuses.begin(), statuses.end());
  CHECK(statuses == std::vector<int>{200, 409});

  // Where the store is, how long to wait for it, the data, the process's
  // threads: the deployment's, never a request's (setup's body or query,
  // train's joins).
  for (const auto& [url, request] :
       std::vector<std::pair<std::string, std::string>>{
           {setup_url, R"({"sync": {"servers": ["127.0.0.1:1"]}})"},
           {setup_url, R"({"sync": {"retry_ms": 3600000}})"},
           {setup_url, R"({"sync": {"store": "memory"}})"},
           {setup_url + "?actors.scheduler_threads=1024", ""},
           {setup_url, R"({"train": {"max_seconds": 100000}})"},
           {s.url("/function/emnist-train?job=kept&sync.timeout_ms=60000"),
            ""}}) {
    CAPTURE(url);
    CAPTURE(request);
    auto r = call("POST", url, request);
    CHECK(r.status == 400);
    CHECK(has(r.body, "set by the deployment"));
  }
  CHECK(has(call("POST", setup_url, R"({"sync": {"servers": ["x:1"]}})").body,
            "\"field\":\"sync.servers\""));
}

TEST_CASE("serve: a setup restarted mid-job resumes driving it") {
  test::memcached_server mc;
  const std::vector<std::string> long_job = {
      "--set", "train.target_accuracy=0.99", "--set", "train.max_epochs=1000"};
  std::int64_t samples_before = 0;
  {
    test::serve_process s(serve_args(mc, long_job));
    auto setup =
        call("POST", s.url("/function/emnist-setup"),
             R"({"train": {"replicas": 2}, "sync": {"job": "orphan"}})");
    REQUIRE_MESSAGE(setup.status == 200, setup.body);
    auto st = wait_status(
        s, "orphan",
        [](const auto& o) {
          for (const auto& w : o.at("workers").as_array()) {
            if (w.is_null() || w.at("samples").as_int64() == 0) return false;
          }
          return true;
        },
        60s);
    for (const auto& w : st.at("workers").as_array()) {
      samples_before += w.at("samples").as_int64();
    }
    s.kill();  // setup, its driver and the replicas' calls: gone
  }
  test::serve_process again(serve_args(mc, long_job));
  const auto resume_url = again.url("/function/emnist-setup");
  const std::string resume = R"({"sync": {"job": "orphan"}, "resume": true})";
  // The old driver's notes are fresh: it might still run somewhere.
  auto early = call("POST", resume_url, resume);
  CHECK(early.status == 409);
  CHECK(has(early.body, "is driven by emnist-setup on"));
  CHECK(call("POST", resume_url, R"({"resume": true})").status == 400);
  // Once they are abandoned_after_ms old, a setup takes the job over; its
  // calls wait for the replicas' slots to be abandoned too, then resume.
  std::this_thread::sleep_for(std::chrono::milliseconds(abandoned_after_ms));
  auto resumed = call("POST", resume_url, resume);
  REQUIRE_MESSAGE(resumed.status == 200, resumed.body);
  CHECK(json_of(resumed).at("resumed").as_bool());
  wait_status(
      again, "orphan",
      [&](const auto& o) {
        std::int64_t samples = 0;
        std::size_t training = 0;
        for (const auto& w : o.at("workers").as_array()) {
          samples += w.at("samples").as_int64();
          training += w.at("done").as_bool() ? 0 : 1;
        }
        return samples > samples_before && training == 2;
      },
      60s);
}

TEST_CASE("serve: the live page takes the token in headless Chromium") {
  // With a token set, a browser opening the page's link gets the page (no
  // job data in it) without one; its first status poll answers 401, and
  // it asks for the token, keeps it in sessionStorage and sends it on
  // every poll. A wrong one is refused on the page, in words.
  test::memcached_server mc;
  test::scratch_dir dir;
  test::write_file(dir.path() / "token", "s3cret\n");
  auto args = serve_args(mc, {"--set", "train.target_accuracy=0.6"});
  args.push_back("--set");
  args.push_back("http.secret_file=" + (dir.path() / "token").string());
  test::serve_process s(args);
  const header_list auth = {{"Authorization", "Bearer s3cret"}};
  auto setup = call("POST", s.url("/function/emnist-setup"),
                    R"({"train": {"replicas": 2}, "sync": {"job": "tk-job"}})",
                    {{"Content-Type", "application/json"}, auth[0]});
  REQUIRE_MESSAGE(setup.status == 200, setup.body);
  wait_status(
      s, "tk-job",
      [](const boost::json::object& o) { return o.at("reached").as_bool(); },
      60s, auth);

  // The page without the token; nothing about the job without it.
  const std::string page_url = s.url("/function/emnist-setup/ui?job=tk-job");
  auto page = call("GET", page_url);
  REQUIRE(page.status == 200);
  CHECK(!has(page.body, "tk-job"));
  for (const char* route :
       {"/function/emnist-setup/status?job=tk-job&history=1",
        "/status?job=tk-job", "/function/emnist-setup/model?job=tk-job",
        "/model?job=tk-job", "/metrics"}) {
    CAPTURE(route);
    CHECK(call("GET", s.url(route)).status == 401);
  }

  test::headless_chromium browser(page_url);
  const auto text_of = [&](const std::string& id) {
    const auto v = browser.evaluate("(document.getElementById('" + id +
                                    "') || {}).textContent");
    return v.is_string() ? std::string(v.as_string()) : std::string();
  };
  const std::string form_shown =
      "!document.getElementById('token-form').hidden";
  const std::string lines = "document.querySelectorAll('polyline.replica')";
  REQUIRE_MESSAGE(browser.wait_for(form_shown, 20s), text_of("error"));
  CHECK(has(text_of("error"), "needs a token"));
  CHECK(browser.evaluate(lines + ".length") == 0);

  // A wrong token: the page says so and asks again; it keeps nothing.
  browser.type_and_enter("nope");
  REQUIRE_MESSAGE(browser.wait_for("document.getElementById('error')"
                                   ".textContent.includes('refused')",
                                   20s),
                  text_of("error"));
  CHECK(browser.wait_for(form_shown, 5s));
  CHECK(has(text_of("error"), "not this deployment's emnist-token"));
  CHECK(browser.evaluate(lines + ".length") == 0);
  CHECK(browser.evaluate("sessionStorage.getItem('emnist-token')").is_null());

  // The right one: both replicas' lines, the table, the target reached.
  browser.type_and_enter("s3cret");
  REQUIRE_MESSAGE(browser.wait_for(lines + ".length === 2", 20s),
                  text_of("error") << " / " << text_of("summary"));
  CHECK(browser.evaluate("document.querySelectorAll('#replicas tbody tr')"
                         ".length") == 2);
  CHECK(browser.evaluate("document.querySelectorAll('.target').length") == 1);
  CHECK(has(text_of("summary"), "target reached"));
  CHECK(text_of("title") == "emnist job tk-job");
  CHECK(text_of("error").empty());
  CHECK(browser.evaluate("document.getElementById('token-form').hidden") ==
        true);
  // Kept in this tab's sessionStorage: not in the URL, not in a cookie.
  CHECK(browser.evaluate("sessionStorage.getItem('emnist-token')") == "s3cret");
  CHECK(!has(std::string(browser.evaluate("location.href").as_string()),
             "s3cret"));
  CHECK(browser.evaluate("document.cookie") == "");
  // And it goes on polling with it: the next polls update the summary.
  const std::string updated = text_of("summary");
  CHECK(
      browser.wait_for("document.getElementById('summary').textContent !== " +
                           boost::json::serialize(boost::json::value(updated)),
                       10s));
  CHECK(text_of("error").empty());
  // The policy keeps it in: the page may connect to its own origin only.
  const auto sent = browser.evaluate(
      "fetch('http://127.0.0.1:" + std::to_string(mc.port()) +
      "/', {method: 'POST', body: sessionStorage.getItem('emnist-token')})"
      ".then(() => 'sent', () => 'blocked')");
  CHECK(sent == "blocked");
}

TEST_CASE(
    "serve: a replica that cannot start is shown waiting, with the reason, "
    "in the status and on the live page") {
  test::memcached_server mc;
  // A setup whose gateway is not there: its calls of the replicas fail.
  const auto nowhere = test::free_port();
  auto args = serve_args(mc);
  for (auto& a : args) {
    if (a.rfind("http.gateway_url=", 0) == 0) {
      a = "http.gateway_url=http://127.0.0.1:" + std::to_string(nowhere);
    }
  }
  args[1] = "setup";  // --function setup
  test::serve_process s(args);
  auto setup = call("POST", s.url("/"),
                    R"({"train": {"replicas": 2}, "sync": {"job": "stuck"}})");
  REQUIRE_MESSAGE(setup.status == 200, setup.body);
  // Its answer says so already: no replica started, and why.
  const auto answer = json_of(setup);
  CHECK(answer.at("started").as_int64() == 0);
  REQUIRE(answer.contains("waiting"));
  CHECK(has(boost::json::serialize(answer.at("waiting")),
            "the gateway did not answer"));
  auto st = wait_status(
      s, "stuck",
      [](const auto& o) { return o.at("waiting").as_array().size() == 2; },
      20s);
  for (const auto& w : st.at("waiting").as_array()) {
    CHECK(has(std::string(w.at("reason").as_string()),
              "the gateway did not answer"));
  }
  CHECK(st.at("driver").at("calls").as_array()[0].at("calls").as_int64() >= 1);
  test::headless_chromium browser(s.url("/ui?job=stuck"));
  CHECK(browser.wait_for(
      "document.querySelectorAll('#replicas tbody tr').length === 2 && "
      "document.querySelector('#replicas tbody').textContent"
      ".includes('waiting: the gateway did not answer')",
      20s));
}
