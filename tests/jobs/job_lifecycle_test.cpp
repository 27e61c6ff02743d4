// A job's life in its store: a name is set up once unless replaced, two
// set-ups at once give one job, a replica's slot is claimed by one call, a
// replaced job's running replicas are stopped first.
#include "jobs/job_lifecycle.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <future>
#include <thread>

#include "jobs/store_config.hpp"
#include "runtime/store/memory_store.hpp"
#include "runtime/store/store_factory.hpp"
#include "support/memcached_server.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

const mlp_shape shape{784, 16, 47};

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

job_config two_replicas(const std::string& job) {
  job_config cfg;
  cfg.sync.job = job;
  cfg.train.replicas = 2;
  cfg.model.hidden = 16;
  return cfg;
}

void write(record_store& s, const std::string& name, const std::string& v) {
  std::promise<expected<void>> p;
  s.write_record(name, v, [&](expected<void> r) { p.set_value(r); });
  REQUIRE(p.get_future().get().has_value());
}

/// A record of replica `id` as a running call writes it.
void running(record_store& s, std::uint32_t id, std::int64_t heartbeat_ms) {
  replica_record r;
  r.id = id;
  r.steps = 10;
  r.heartbeat_ms = heartbeat_ms;
  r.holder = "elsewhere:1:abcd";
  write(s, replica_record_name(id), encode_record(r));
}

}  // namespace

TEST_CASE("job_lifecycle: a job's name is set up once, unless replaced") {
  const auto store = make_memory_store(shape.size());
  const std::vector<float> initial(shape.size(), 0.5f);
  const auto cfg = two_replicas("j1");
  auto first = set_up_job(store, cfg, shape, initial, setup_mode::create);
  REQUIRE_MESSAGE(first.has_value(), test::error_text(first));
  CHECK(first->state == "ready");
  CHECK(first->id.size() == 16);

  // Taken: refused, naming the job and its state, nothing touched.
  running(*store.records, 0, unix_ms());
  auto again = set_up_job(store, cfg, shape, initial, setup_mode::create);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code == errc::aborted);
  CHECK(has(again.error().message, "job 'j1' exists: running (replica 0's"));
  CHECK(has(again.error().message, "\"replace\": true"));
  auto kept = read_replica(*store.records, 0);
  REQUIRE(kept.has_value());
  CHECK(kept->has_value());
  // simulate's mode: not while a replica of it runs elsewhere.
  auto idle = set_up_job(store, cfg, shape, initial, setup_mode::replace_idle);
  REQUIRE_FALSE(idle.has_value());
  CHECK(has(idle.error().message, "pick another sync.job"));

  // Abandoned (no heartbeat for abandoned_after_ms): idle, replaceable
  // without asking to stop it; the new job has another creation id.
  running(*store.records, 0, unix_ms() - abandoned_after_ms - 1);
  auto status = read_job_status(*store.records, "j1");
  REQUIRE(status.has_value());
  CHECK(job_state_of(*status, unix_ms()) == "idle");
  auto fresh = set_up_job(store, cfg, shape, initial, setup_mode::replace_idle);
  REQUIRE_MESSAGE(fresh.has_value(), test::error_text(fresh));
  CHECK(fresh->id != first->id);
  auto cleared = read_replica(*store.records, 0);
  REQUIRE(cleared.has_value());
  CHECK_FALSE(cleared->has_value());
}

TEST_CASE("job_lifecycle: replacing a running job stops it first") {
  const auto store = make_memory_store(shape.size());
  const std::vector<float> initial(shape.size(), 0.5f);
  const auto cfg = two_replicas("j2");
  REQUIRE(set_up_job(store, cfg, shape, initial, setup_mode::create));
  running(*store.records, 1, unix_ms());
  // A replica that obeys the stop record: it saves its record as done.
  std::atomic<bool> stopped{false};
  std::thread replica([&] {
    for (int i = 0; i < 200 && !stopped; ++i) {
      std::promise<expected<std::optional<std::string>>> p;
      store.records->read_record(
          stop_record_name,
          [&](expected<std::optional<std::string>> r) { p.set_value(r); });
      auto stop = p.get_future().get();
      if (stop && *stop) {
        replica_record r;
        r.id = 1;
        r.done = true;
        r.stop = "interrupted";
        r.heartbeat_ms = unix_ms();
        write(*store.records, replica_record_name(1), encode_record(r));
        stopped = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  auto replaced = set_up_job(store, cfg, shape, initial, setup_mode::replace,
                             std::chrono::seconds(5));
  replica.join();
  REQUIRE_MESSAGE(replaced.has_value(), test::error_text(replaced));
  CHECK(stopped);
  // One that does not stop: the replace gives up, saying so.
  running(*store.records, 0, unix_ms());
  auto refused = set_up_job(store, cfg, shape, initial, setup_mode::replace,
                            std::chrono::milliseconds(300));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::aborted);
  CHECK(has(refused.error().message, "replica 0 still runs"));
}

TEST_CASE("job_lifecycle: a replica's slot is claimed by one call") {
  const auto store = make_memory_store(shape.size());
  const std::vector<float> initial(shape.size(), 0.5f);
  REQUIRE(set_up_job(store, two_replicas("j3"), shape, initial,
                     setup_mode::create));
  auto& records = *store.records;
  auto mine = claim_replica(records, "j3", 0, "here:1:aaaa");
  REQUIRE_MESSAGE(mine.has_value(), test::error_text(mine));
  CHECK(mine->start.steps == 0);
  auto theirs = claim_replica(records, "j3", 0, "there:2:bbbb");
  REQUIRE_FALSE(theirs.has_value());
  CHECK(theirs.error().code == errc::aborted);
  CHECK(has(theirs.error().message,
            "replica 0 of job 'j3' runs in another call (held by here:1:aaaa"));

  // Done for good (its passes): a call that takes the first free replica
  // passes over it; one that names it may run it again.
  replica_record done;
  done.id = 1;
  done.steps = 500;
  done.done = true;
  done.stop = "max_epochs";
  done.heartbeat_ms = unix_ms();
  write(records, replica_record_name(1), encode_record(done));
  auto any = claim_replica(records, "j3", 1, "there:2:bbbb", true);
  REQUIRE_FALSE(any.has_value());
  CHECK(has(any.error().message, "is finished (max_epochs)"));
  // Out of time: it goes on, from its progress.
  done.stop = "max_seconds";
  write(records, replica_record_name(1), encode_record(done));
  auto resumed = claim_replica(records, "j3", 1, "there:2:bbbb", true);
  REQUIRE_MESSAGE(resumed.has_value(), test::error_text(resumed));
  CHECK(resumed->start.steps == 500);
  auto now = read_replica(records, 1);
  REQUIRE(now.has_value());
  CHECK((*now)->holder == "there:2:bbbb");
  CHECK_FALSE((*now)->done);
}

TEST_CASE(
    "job_lifecycle: on memcached, two set-ups at once give one job and two "
    "claims at once one holder") {
  test::memcached_server server;
  auto cfg = two_replicas("race");
  cfg.sync.store = store_kind::memcached;
  cfg.sync.servers = {server.address()};
  const std::vector<float> initial(shape.size(), 0.5f);
  for (int round = 0; round < 5; ++round) {
    cfg.sync.job = "race-" + std::to_string(round);
    auto a = make_store(store_options_of(cfg, shape), shape.size());
    auto b = make_store(store_options_of(cfg, shape), shape.size());
    REQUIRE(a.has_value());
    REQUIRE(b.has_value());
    std::promise<void> go;
    auto start = go.get_future().share();
    auto set_up = [&](const job_store& s) {
      start.wait();
      return set_up_job(s, cfg, shape, initial, setup_mode::create);
    };
    auto fa = std::async(std::launch::async, set_up, std::cref(*a));
    auto fb = std::async(std::launch::async, set_up, std::cref(*b));
    go.set_value();
    auto ra = fa.get();
    auto rb = fb.get();
    CAPTURE(round);
    CHECK(ra.has_value() != rb.has_value());
    const auto& loser = ra ? rb : ra;
    if (!loser) CHECK(loser.error().code == errc::aborted);

    std::promise<void> go2;
    auto start2 = go2.get_future().share();
    auto claim = [&](const job_store& s, const std::string& holder) {
      start2.wait();
      return claim_replica(*s.records, cfg.sync.job, 0, holder);
    };
    auto ca = std::async(std::launch::async, claim, std::cref(*a), "a:1:1");
    auto cb = std::async(std::launch::async, claim, std::cref(*b), "b:2:2");
    go2.set_value();
    auto xa = ca.get();
    auto xb = cb.get();
    CHECK(xa.has_value() != xb.has_value());
  }
}
