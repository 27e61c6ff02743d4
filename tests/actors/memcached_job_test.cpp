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

#include "jobs/job_lifecycle.hpp"
#include "jobs/simulation.hpp"
#include "jobs/store_config.hpp"
#include "model/mlp.hpp"
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

TEST_CASE("memcached job: a server lost while the job is set up is counted") {
  // The server that holds the job's metadata is gone before the job
  // starts (killed while the data loaded): creating the job fails it over.
  // The log said so, and the summary said servers_failed_over = 0 (its
  // counters started after the set-up).
  test::memcached_server a, b, c;
  test::memcached_server* servers[] = {&a, &b, &c};
  const std::vector<std::uint16_t> ports{a.port(), b.port(), c.port()};
  const std::string job = "prep-failover";
  auto* victim = servers[server_of(ports, "emnist:" + job + ":meta")];
  victim->stop();
  auto cfg = memcached_job({a.address(), b.address(), c.address()}, job);
  cfg.train.replicas = 1;
  cfg.train.max_epochs = 1;
  cfg.train.target_accuracy = 0.3;
  cfg.sync.retry_ms = 300;
  cfg.sync.on_server_failure = server_failure_setting::failover;
  const auto& data = test::bymerge_data(20000);
  auto r = run_simulation(cfg, data);
  REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
  CHECK(r->reached);
  CHECK(r->sync.servers_failed_over == 1);
  CHECK(r->sync.server_retries >= 1);
}

TEST_CASE("memcached job: a pool of three loses a server mid-run") {
  test::memcached_server a, b, c;
  test::memcached_server* servers[] = {&a, &b, &c};
  const std::vector<std::uint16_t> ports{a.port(), b.port(), c.port()};
  const auto& data = test::bymerge_data(60000);  // loaded before the clock

  // Strings, not pointers: CAPTURE prints a char pointer as an address.
  for (const std::string policy : {"fail", "failover"}) {
    CAPTURE(policy);
    const std::string job = "pool-" + policy;
    auto cfg = memcached_job({a.address(), b.address(), c.address()}, job);
    cfg.data.train = "test[:60000]";
    cfg.train.replicas = 2;
    cfg.train.target_accuracy = 0.73;
    cfg.train.max_epochs = 10;
    cfg.sync.retry_ms = 300;
    cfg.sync.on_server_failure = policy == "fail"
                                     ? server_failure_setting::fail
                                     : server_failure_setting::failover;
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
                           "the pool test's run under " + policy);
      result.emplace(run_simulation(cfg, data, on_progress));
      stopper.join();
    }
    auto& r = *result;
    CHECK(all_train);
    MESSAGE("seconds: " << std::chrono::duration<double>(
                               std::chrono::steady_clock::now() - t0)
                               .count());
    if (policy == "fail") {
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
  REQUIRE(set_up_job(*store, cfg, shape, initial, setup_mode::create));

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
  // memcached stopped (SIGSTOP) for 3 s, with a 200 ms timeout and 5 s of
  // retries: every write times out and is retried. The replicas must wait
  // (the store holds their pushes once sync.max_unwritten are unwritten),
  // not train on parameters no other replica sees, and go on once it
  // answers.
  test::watchdog limit(std::chrono::seconds(180), "the pause test");
  test::memcached_server server;
  auto cfg = memcached_job({server.address()}, "pause-test");
  cfg.data.train = "test[:60000]";
  cfg.train.replicas = 2;
  // The run spans the pause on any machine: with a target it cannot reach
  // it ends at max_seconds, seconds after memcached answers again.
  cfg.train.target_accuracy = 1.0;
  cfg.train.max_epochs = 1000;
  cfg.train.max_seconds = 8;
  // Nothing but the store's hold may stop a replica in the pause. An
  // evaluation's fetch waits for memcached (and the replicas hold a period
  // past an evaluation that has not ended), and so does a fetch that
  // checks the view against memcached (sync.max_view_age_ms) and one that
  // a replica past sync.max_staleness waits for: none of them here.
  cfg.train.eval_every = 1'000'000'000;
  cfg.sync.max_view_age_ms = -1;
  cfg.sync.max_staleness = -1;
  // A push every push_every steps, none coalesced: the pushes a replica
  // issued are its steps over push_every, which its reports count (each
  // step reported).
  cfg.sync.max_coalesced_steps = cfg.sync.push_every;
  cfg.actors.report_every = 1;
  cfg.sync.timeout_ms = 200;
  cfg.sync.retry_ms = 5000;
  const auto replicas = static_cast<std::size_t>(cfg.train.replicas);
  const auto batch = static_cast<std::uint64_t>(cfg.train.batch_size);
  const auto push_every = static_cast<std::uint64_t>(cfg.sync.push_every);
  const auto& data = test::bymerge_data(60000);  // loaded before the clock

  using clock = std::chrono::steady_clock;
  using namespace std::chrono_literals;
  struct report {
    clock::time_point at;                ///< when it came
    std::vector<std::uint64_t> samples;  ///< by replica id
  };
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<report> reports;
  std::optional<report> at_pause;  // the report that stopped memcached
  std::optional<clock::time_point> paused, resumed;
  bool finished = false;
  const auto on_progress = [&](const progress_report& p) {
    report now{clock::now(), std::vector<std::uint64_t>(replicas)};
    for (const auto& q : p.replicas) {
      if (q.id < replicas) now.samples[q.id] = q.samples;
    }
    std::lock_guard lock(mutex);
    reports.push_back(now);
    // memcached stops at the first report in which every replica trains
    // (so has its parameters and pushes), right after the counts it
    // holds: what they trained since, they trained in the pause (and in
    // the moment before it).
    const bool all_train = std::all_of(now.samples.begin(), now.samples.end(),
                                       [](std::uint64_t n) { return n > 0; });
    if (!paused && all_train) {
      server.pause();
      paused = clock::now();
      at_pause = now;
      changed.notify_all();
    }
  };
  std::thread pauser([&] {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, 120s, [&] { return paused || finished; });
    if (!paused) return;
    lock.unlock();
    std::this_thread::sleep_for(3000ms);  // the outage itself
    lock.lock();
    server.resume();
    resumed = clock::now();
  });
  auto r = run_simulation(cfg, data, on_progress);
  {
    std::lock_guard lock(mutex);
    finished = true;
  }
  changed.notify_all();
  pauser.join();
  REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
  REQUIRE(paused.has_value());
  REQUIRE(resumed.has_value());
  CHECK(r->stop_reason == "max_seconds");
  CHECK(r->sync.servers_failed_over == 0);
  CHECK(r->sync.blocks_restored == 0);
  CHECK(r->sync.pushes_applied == r->sync.pushes);

  // The last report of the pause, 1 s or more into it: free training
  // would have run thousands of samples by then on any build, and the
  // hold has stopped the replicas (the backlog fills within a fraction of
  // a second). Reports come every 500 ms; the outage lasts 3 s so that
  // one falls in that window even when the coordinator's come late (with
  // builds beside it on two cores, one came 1.9 s after the one before).
  std::optional<report> first_late, at_end;
  for (const auto& rep : reports) {
    if (rep.at <= *resumed) at_end = rep;
    if (rep.at >= *paused + 1s && rep.at <= *resumed && !first_late) {
      first_late = rep;
    }
  }
  REQUIRE(at_end.has_value());
  REQUIRE(at_end->at >= *paused + 1s);
  REQUIRE(first_late.has_value());
  std::uint64_t late = 0;
  for (std::size_t i = 0; i < replicas; ++i) {
    late += at_end->samples[i] - first_late->samples[i];
  }
  MESSAGE("samples trained from 1 s into the pause to its end: " << late);

  // What each replica trained in the pause: every replica pushed into it
  // (the gate of the held-push check below: pushes issued while memcached
  // stored nothing), and all together at most the store's backlog, the
  // pushes the hold stopped (one a replica) and the steps trained before
  // a replica waits for its held push, plus what they trained between the
  // report and the SIGSTOP. Free training would run 50,000 samples a
  // second (15,000 under the sanitizers).
  std::uint64_t trained = 0;
  for (std::size_t i = 0; i < replicas; ++i) {
    CAPTURE(i);
    REQUIRE(at_end->samples[i] >= at_pause->samples[i]);
    const std::uint64_t n = at_end->samples[i] - at_pause->samples[i];
    const std::uint64_t pushes = n / batch / push_every;
    MESSAGE("replica " << i << " trained " << n << " samples in the pause ("
                       << pushes << " pushes)");
    REQUIRE(pushes >= 1);
    trained += n;
  }
  const auto max_unwritten = static_cast<std::uint64_t>(cfg.sync.max_unwritten);
  const std::uint64_t most =
      (max_unwritten + 2 * replicas) * push_every * batch + 4096;
  CHECK(trained <= most);

  // What stopped them: each replica's last push in the pause waited for
  // memcached to store the backlog. This runs in every passing run.
  MESSAGE("pushes held: " << r->sync.pushes_held);
  CHECK(r->sync.pushes_held >= replicas);

  // A replica's pushes are its steps over push_every (what makes the count
  // of pushes in the pause above right), and the store got every one.
  REQUIRE(r->workers.size() == replicas);
  std::uint64_t accepted = 0;
  for (const auto& w : r->workers) {
    CAPTURE(w.id);
    const std::uint64_t steps = w.samples / batch;
    CHECK(w.pushes + 1 >= steps / push_every);
    CHECK(w.pushes <= steps / push_every + 1);
    // And it went on once memcached answered.
    REQUIRE(w.id < replicas);
    CHECK(w.samples > at_end->samples[w.id]);
    accepted += w.pushes;
  }
  CHECK(accepted == r->sync.pushes);
}
