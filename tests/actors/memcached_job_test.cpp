// A job's life on real memcached servers: resuming from stored progress,
// refusing a replica with another config, and a pool of three servers
// losing one mid-run under each sync.on_server_failure policy.
#include <doctest/doctest.h>
#include <libmemcached/memcached.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "actors/simulation.hpp"
#include "model/mlp.hpp"
#include "runtime/config/store_config.hpp"
#include "runtime/store/job_state.hpp"
#include "runtime/store/store_factory.hpp"
#include "support/memcached_server.hpp"
#include "support/watchdog.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

job_config memcached_job(const std::vector<std::string>& servers,
                         const std::string& job) {
  job_config cfg;
  cfg.data.train = "test[:20000]";
  cfg.data.eval = "test[100000:]";
  cfg.train.eval_every = 50;
  cfg.train.max_epochs = 4;
  cfg.sync.store = store_kind::memcached;
  cfg.sync.servers = servers;
  cfg.sync.job = job;
  return cfg;
}

/// The index in `ports` of the server that ketama puts `key` on, hashed as
/// the store does.
std::size_t server_of(const std::vector<std::uint16_t>& ports,
                      const std::string& key) {
  memcached_st* m = memcached_create(nullptr);
  for (auto p : ports) memcached_server_add(m, "127.0.0.1", p);
  memcached_behavior_set(m, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
  memcached_behavior_set(m, MEMCACHED_BEHAVIOR_DISTRIBUTION,
                         MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
  memcached_return_t rc = MEMCACHED_SUCCESS;
  const auto* s = memcached_server_by_key(m, key.data(), key.size(), &rc);
  const auto port = memcached_server_port(s);
  memcached_free(m);
  for (std::size_t i = 0; i < ports.size(); ++i) {
    if (ports[i] == port) return i;
  }
  FAIL("no server for " << key);
  return 0;
}

}  // namespace

TEST_CASE("memcached job: a resumed job goes on from its stored progress") {
  test::memcached_server server;
  auto cfg = memcached_job({server.address()}, "resume-test");
  cfg.train.replicas = 2;
  cfg.train.target_accuracy = 1.0;  // never reached: runs max_epochs
  cfg.train.max_epochs = 1;
  const auto& data = test::bymerge_data(20000);
  auto first = run_simulation(cfg, data);
  REQUIRE_MESSAGE(first.has_value(), test::error_text(first));
  CHECK_FALSE(first->resumed);
  CHECK(first->workers[0].iterations == 1);
  CHECK(first->accuracy > 0.5);

  cfg.train.max_epochs = 2;
  auto second = run_simulation(cfg, data, {}, job_start::resume);
  REQUIRE_MESSAGE(second.has_value(), test::error_text(second));
  CHECK(second->resumed);
  CHECK(second->workers[0].iterations == 2);
  CHECK(second->workers[1].iterations == 2);
  // This run trained one more pass, not two.
  CHECK(second->samples <= first->samples + 2 * 32);
  // It started from the trained parameters, not from fresh ones: its first
  // evaluation, 50 minibatches in, is as good as the end of the first run.
  REQUIRE_FALSE(second->history.empty());
  CHECK(second->history.front().accuracy > first->accuracy - 0.05);

  // What the store says: every replica done with 2 passes.
  auto store = make_store(store_options_of(cfg, mlp_shape{}), 0);
  REQUIRE(store.has_value());
  auto status = read_job_status(*store->records, "resume-test");
  REQUIRE_MESSAGE(status.has_value(), test::error_text(status));
  REQUIRE(status->records.size() == 2);
  for (const auto& r : status->records) {
    REQUIRE(r.has_value());
    CHECK(r->epochs == 2);
    CHECK(r->done);
    CHECK(r->best_accuracy >= second->accuracy);
  }

  // Resuming a job whose passes are all done trains nothing more.
  auto third = run_simulation(cfg, data, {}, job_start::resume);
  REQUIRE_MESSAGE(third.has_value(), test::error_text(third));
  CHECK(third->samples == 0);
  CHECK(third->workers[0].iterations == 2);
}

TEST_CASE("memcached job: a replica with another config is refused") {
  test::memcached_server server;
  auto cfg = memcached_job({server.address()}, "mismatch-test");
  cfg.train.max_epochs = 1;
  cfg.train.target_accuracy = 0.3;
  const auto& data = test::bymerge_data(20000);
  REQUIRE(run_simulation(cfg, data).has_value());

  auto other = cfg;
  other.train.learning_rate = 0.05;
  auto refused = run_simulation(other, data, {}, job_start::resume);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(refused.error().message.find(
            "job 'mismatch-test' was set up with train.learning_rate = 0.1") !=
        std::string::npos);

  auto unknown = cfg;
  unknown.sync.job = "never-set-up";
  auto missing = run_simulation(unknown, data, {}, job_start::resume);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == errc::not_found);
}

TEST_CASE("memcached job: a pool of three loses a server mid-run") {
  test::memcached_server a, b, c;
  test::memcached_server* servers[] = {&a, &b, &c};
  const std::vector<std::uint16_t> ports{a.port(), b.port(), c.port()};
  const auto& data = test::bymerge_data(60000);  // loaded before the clock

  for (const char* policy : {"fail", "failover"}) {
    CAPTURE(policy);
    const std::string job = std::string("pool-") + policy;
    auto cfg = memcached_job({a.address(), b.address(), c.address()}, job);
    cfg.data.train = "test[:60000]";
    cfg.train.replicas = 2;
    cfg.train.target_accuracy = 0.73;
    cfg.train.max_epochs = 10;
    cfg.sync.retry_ms = 300;
    cfg.sync.on_server_failure = std::string(policy) == "fail"
                                     ? server_failure_policy::fail
                                     : server_failure_policy::failover;
    // Stop the server that holds block 0 of the parameters once every
    // replica trains (so has fetched them: a server lost before that leaves
    // nothing to restore from), whatever the machine's speed (under
    // ThreadSanitizer a fixed delay fell before the first fetch).
    auto* victim = servers[server_of(ports, "emnist:" + job + ":b:0")];
    std::mutex mutex;
    std::condition_variable training;
    bool all_train = false;
    const auto on_progress = [&](const progress_report& p) {
      const bool all =
          std::all_of(p.replicas.begin(), p.replicas.end(),
                      [](const replica_progress& q) { return q.samples > 0; });
      if (!all || p.replicas.size() != 2) return;
      std::lock_guard lock(mutex);
      all_train = true;
      training.notify_all();
    };
    std::thread stopper([&] {
      std::unique_lock lock(mutex);
      training.wait_for(lock, std::chrono::seconds(120),
                        [&] { return all_train; });
      victim->stop();
    });
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<expected<simulation_result>> result;
    {
      // Never a hang: the run is bounded by max_epochs, and a run that
      // outlives this aborts the suite, naming it. (About 10 s in a Release
      // build; over 60 s under ASan on two busy cores.)
      test::watchdog limit(std::chrono::seconds(300),
                           std::string("the pool test's run under ") + policy);
      result.emplace(run_simulation(cfg, data, on_progress));
      stopper.join();
    }
    auto& r = *result;
    CHECK(all_train);
    MESSAGE("seconds: " << std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - t0)
                               .count());
    if (std::string(policy) == "fail") {
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().message.find("memcached server " + victim->address()) !=
            std::string::npos);
      CHECK(r.error().message.find("sync.on_server_failure = \"fail\"") !=
            std::string::npos);
    } else {
      REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
      CHECK(r->reached);
      CHECK(r->sync.servers_failed_over == 1);  // only the stopped one
      CHECK(r->sync.blocks_restored >= 1);
      CHECK(r->sync.pushes_applied <= r->sync.pushes);
    }
    victim->start();  // empty again, for the next policy
  }
}

TEST_CASE("memcached job: replicas in separate runs stop when one reaches") {
  test::memcached_server server;
  auto cfg = memcached_job({server.address()}, "split-test");
  cfg.train.replicas = 2;
  cfg.train.target_accuracy = 0.6;
  cfg.train.max_epochs = 50;
  const auto& data = test::bymerge_data(20000);
  // Set the job up (as emnist-setup does), then run each replica on its
  // own, as two train functions would.
  const mlp_shape shape{784, 100, 47};
  auto store = make_store(store_options_of(cfg, shape), shape.size());
  REQUIRE(store.has_value());
  std::vector<float> initial(shape.size());
  init_parameters(shape, 1, initial);
  REQUIRE(create_job(*store, cfg, shape, initial));

  auto evaluating = cfg;  // evaluates every 50 of its minibatches
  auto blind = cfg;       // never evaluates before its 50 passes end
  blind.train.eval_every = 1'000'000'000;
  std::optional<expected<simulation_result>> a, b;
  std::thread ta([&] {
    replicas_options o;
    o.ids = {0};
    a.emplace(run_replicas(evaluating, data, o));
  });
  std::thread tb([&] {
    replicas_options o;
    o.ids = {1};
    b.emplace(run_replicas(blind, data, o));
  });
  ta.join();
  tb.join();
  REQUIRE_MESSAGE(a->has_value(), test::error_text(*a));
  REQUIRE_MESSAGE(b->has_value(), test::error_text(*b));
  CHECK((*a)->reached);
  // Replica 1 learned it from the store, long before its 50 passes.
  CHECK((*b)->reached);
  CHECK((*b)->workers[0].iterations < 25);
}

TEST_CASE("memcached job: a server paused past timeout_ms pauses training") {
  // SIGSTOP for 2.5 s, with a 200 ms timeout and 5 s of retries: every
  // write times out and is retried. The replicas must wait (memcached's
  // store holds their pushes once sync.max_unwritten are queued, and they
  // coalesce at most sync.max_coalesced_steps), not train on parameters no
  // other replica sees, and go on to the target once it answers.
  test::memcached_server server;
  auto cfg = memcached_job({server.address()}, "pause-test");
  cfg.data.train = "test[:60000]";
  cfg.train.replicas = 2;
  cfg.train.target_accuracy = 0.73;
  cfg.train.max_epochs = 10;
  cfg.sync.timeout_ms = 200;
  cfg.sync.retry_ms = 5000;
  // Rare evaluations: an evaluation's fetch waits for the store too, and
  // would hold the replicas before the store does.
  cfg.train.eval_every = 400;
  const auto& data = test::bymerge_data(60000);  // loaded before the clock

  using clock = std::chrono::steady_clock;
  std::mutex mutex;
  std::vector<std::pair<clock::time_point, std::uint64_t>> samples;
  auto on_progress = [&](const progress_report& p) {
    std::uint64_t all = 0;
    for (const auto& r : p.replicas) all += r.samples;
    std::lock_guard guard(mutex);
    samples.emplace_back(clock::now(), all);
  };
  clock::time_point paused, resumed;
  std::thread pauser([&] {
    // Once training runs (a first report), not during set-up.
    for (;;) {
      {
        std::lock_guard guard(mutex);
        if (!samples.empty()) break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    paused = clock::now();
    server.pause();
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    resumed = clock::now();
    server.resume();
  });
  auto r = run_simulation(cfg, data, on_progress);
  pauser.join();
  REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
  CHECK(r->reached);
  CHECK(r->sync.servers_failed_over == 0);
  CHECK(r->sync.blocks_restored == 0);
  CHECK(r->sync.pushes_applied == r->sync.pushes);

  // Samples trained in the last 2 s of the pause: at most the backlog
  // (64 pushes of 2 steps of 32 samples), each replica's coalesced steps
  // (64 of 32) and a few in flight, about 8,500 in all, however slowly the
  // build trains. Free training would run 50,000 a second (15,000 under
  // the sanitizers).
  // From the first report 500 ms into the pause: the last one before that
  // point can be from before the pause itself when reports are sparse,
  // and count free training (CI's ASan run: 12,032).
  std::optional<std::uint64_t> first_in_pause;
  std::uint64_t at_end = 0;
  {
    std::lock_guard guard(mutex);
    for (const auto& [t, n] : samples) {
      if (t >= paused + std::chrono::milliseconds(500) && t <= resumed &&
          !first_in_pause) {
        first_in_pause = n;
      }
      if (t <= resumed) at_end = n;
    }
  }
  const std::uint64_t at_start = first_in_pause.value_or(at_end);
  MESSAGE("samples trained in the last 2 s of the pause: " << at_end -
                                                                  at_start);
  CHECK(at_end >= at_start);
  CHECK(at_end - at_start <= 12000);

  // What held them: the store holds pushes once sync.max_unwritten are
  // queued (64 pushes of 2 steps of 32 samples: 4,096 a replica), after
  // what was in flight and coalesced; a replica's next fetch, which waits
  // for the store too, may hold it first. Over twice the backlog trained
  // within the pause, the store's hold must have been met (seen here:
  // 11,392 and 11,904 with pushes held; 7,296 held by a fetch with none).
  // Gated on what was measured in the pause, not predicted from the rate
  // before it: on a machine shared with other work that rate is no guide
  // (CI saw 12,000 samples/s before, and 2,500 a replica in the pause).
  // From the last report before the pause, as the bound above counts,
  // but only when it is close to the pause's start: otherwise from the
  // first report inside the pause (fewer samples: the gate errs towards
  // not asserting).
  std::optional<std::uint64_t> before, inside;
  std::uint64_t at_resume = 0;
  {
    std::lock_guard guard(mutex);
    for (const auto& [t, n] : samples) {
      if (t <= paused && t >= paused - std::chrono::milliseconds(20)) {
        before = n;
      }
      if (t > paused && t <= resumed && !inside) inside = n;
      if (t <= resumed) at_resume = n;
    }
  }
  const std::uint64_t at_pause = before.value_or(inside.value_or(at_resume));
  const double per_replica = static_cast<double>(at_resume - at_pause) /
                             static_cast<double>(cfg.train.replicas);
  MESSAGE("samples a replica trained in the pause: "
          << per_replica << ", pushes held: " << r->sync.pushes_held);
  if (per_replica > 2 * 4096) {
    CHECK(r->sync.pushes_held >= 1);
  }
}
