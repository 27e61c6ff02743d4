// Job metadata and progress records, on the embedded store (the memcached
// side is covered end to end in tests/actors/simulation_test.cpp).
#include <doctest/doctest.h>

#include <future>

#include "jobs/job_lifecycle.hpp"
#include "jobs/job_status_json.hpp"
#include "runtime/store/memory_store.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

const mlp_shape shape{784, 100, 47};

}  // namespace

TEST_CASE("job_records: a progress record round-trips, bad ones are named") {
  replica_record r;
  r.id = 3;
  r.epochs = 2;
  r.steps = 1234;
  r.samples = 1234 * 32;
  r.accuracy = 0.7123;
  r.best_accuracy = 0.7311;
  r.heartbeat_ms = 1'790'000'000'123;
  r.done = true;
  r.holder = "pod-3:1:0a1b2c3d";
  r.reached_at_ms = 1'790'000'000'042;
  const auto text = encode_record(r);
  auto back = decode_record(text, "replica:3");
  REQUIRE_MESSAGE(back.has_value(), test::error_text(back));
  CHECK(back->id == 3);
  CHECK(back->epochs == 2);
  CHECK(back->steps == 1234);
  CHECK(back->samples == 1234 * 32);
  CHECK(back->accuracy == r.accuracy);
  CHECK(back->best_accuracy == r.best_accuracy);
  CHECK(back->heartbeat_ms == r.heartbeat_ms);
  CHECK(back->done);
  CHECK_FALSE(back->reached);
  CHECK(back->holder == r.holder);
  CHECK(back->reached_at_ms == r.reached_at_ms);

  CHECK(has(text, "\"format\":\"emnist replica progress\""));

  auto foreign = decode_record("hello\n", "replica:3");
  REQUIRE_FALSE(foreign.has_value());
  CHECK(foreign.error().code == errc::data_loss);
  CHECK(has(foreign.error().message, "'replica:3': not a JSON record (byte"));
  auto other_program = decode_record("{\"steps\": 3}", "replica:3");
  REQUIRE_FALSE(other_program.has_value());
  CHECK(has(other_program.error().message, "not a record of this program"));
  std::string bad = text;
  bad.replace(bad.find("\"steps\":1234"), 12, "\"steps\":\"12\"");
  auto bad_number = decode_record(bad, "replica:3");
  REQUIRE_FALSE(bad_number.has_value());
  CHECK(has(bad_number.error().message,
            "'replica:3', steps: expected a count, got \"12\""));
  std::string newer = text;
  newer.replace(newer.find("\"version\":2"), 11, "\"version\":9");
  auto from_the_future = decode_record(newer, "replica:3");
  REQUIRE_FALSE(from_the_future.has_value());
  CHECK(has(from_the_future.error().message, "format version 9"));
  std::string bad_stop = text;
  bad_stop.replace(bad_stop.find("\"stop\":null"), 11, "\"stop\":\"bored\"");
  CHECK_FALSE(decode_record(bad_stop, "replica:3").has_value());
  r.stop = "max_epochs";
  auto stopped = decode_record(encode_record(r), "replica:3");
  REQUIRE(stopped.has_value());
  CHECK(stopped->stop == "max_epochs");
  CHECK(stopped->error.empty());
  // A failed replica keeps the error that ended it.
  r.stop = "failed";
  r.error = "replica 0: memcached server 127.0.0.1:1, key 'k': refused";
  auto failed = decode_record(encode_record(r), "replica:3");
  REQUIRE(failed.has_value());
  CHECK(failed->stop == "failed");
  CHECK(failed->error == r.error);
  std::string bad_error = encode_record(r);
  bad_error.replace(bad_error.find("\"error\":\""), 9, "\"error\":7,\"x\":\"");
  CHECK_FALSE(decode_record(bad_error, "replica:3").has_value());
}

TEST_CASE("job_records: the metadata tells jobs apart by what defines them") {
  job_config a;
  job_config b = a;
  CHECK(describe_job(a, shape).hash == describe_job(b, shape).hash);
  b.sync.push_every = 16;  // a per-replica tunable: the same job
  CHECK(describe_job(a, shape).hash == describe_job(b, shape).hash);
  b.train.learning_rate = 0.05;
  CHECK(describe_job(a, shape).hash != describe_job(b, shape).hash);
}

TEST_CASE("job_records: how a job trains is stored for replicas that join") {
  job_config cfg;
  cfg.train.max_epochs = 7;
  cfg.train.eval_every = 50;
  cfg.sync.push_backlog = push_backlog_policy::wait;
  const auto m = describe_job(cfg, shape);
  // Not part of what defines the job: the hash stays.
  CHECK(m.hash == describe_job(job_config{}, shape).hash);
  auto back = decode_meta(encode_meta(m), "meta");
  REQUIRE_MESSAGE(back.has_value(), test::error_text(back));
  CHECK(back->entries == m.entries);
  REQUIRE(back->inherited.size() == inherited_job_keys().size());
  const auto value = [&](const std::string& k) {
    for (const auto& [key, v] : back->inherited)
      if (key == k) return v;
    return std::string("(absent)");
  };
  CHECK(value("train.max_epochs") == "7");
  CHECK(value("train.eval_every") == "50");
  CHECK(value("sync.push_backlog") == "\"wait\"");
  // A record without them (set up by an older version) reads as none.
  auto old = decode_meta(
      R"({"format":"emnist job metadata","version":2,"settings":{},)"
      R"("hash":"ab"})",
      "meta");
  REQUIRE_MESSAGE(old.has_value(), test::error_text(old));
  CHECK(old->inherited.empty());
  CHECK_FALSE(decode_meta(R"({"format":"emnist job metadata","version":2,)"
                          R"("settings":{},"hash":"ab","inherited":[]})",
                          "meta")
                  .has_value());
}

TEST_CASE("job_records: create, join, refuse another config, status") {
  const auto store = make_memory_store(shape.size());
  auto& records = *store.records;
  job_config cfg;
  cfg.sync.job = "j1";
  cfg.train.replicas = 2;

  auto missing = join_job(records, cfg, shape);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == errc::not_found);
  CHECK(has(missing.error().message, "job 'j1' is not set up"));

  std::vector<float> initial(shape.size(), 0.5f);
  REQUIRE(set_up_job(store, cfg, shape, initial, setup_mode::replace_idle)
              .has_value());
  auto joined = join_job(records, cfg, shape);
  REQUIRE_MESSAGE(joined.has_value(), test::error_text(joined));

  job_config other = cfg;
  other.model.hidden = 64;
  auto refused = join_job(records, other, mlp_shape{784, 64, 47});
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == errc::invalid_argument);
  CHECK(has(refused.error().message,
            "was set up with model.hidden = 100, but this replica has "
            "model.hidden = 64"));
  other = cfg;
  other.train.batch_size = 64;
  refused = join_job(records, other, shape);
  REQUIRE_FALSE(refused.has_value());
  CHECK(has(refused.error().message, "train.batch_size = 32"));

  // Progress of replica 1 only: replica 0 has none yet.
  replica_record r;
  r.id = 1;
  r.epochs = 1;
  r.best_accuracy = 0.6;
  r.accuracy = 0.55;
  r.heartbeat_ms = 10'000;
  std::promise<expected<void>> written;
  records.write_record(replica_record_name(1), encode_record(r),
                       [&](expected<void> w) { written.set_value(w); });
  REQUIRE(written.get_future().get().has_value());
  auto mine = read_replica(records, 1);
  REQUIRE(mine.has_value());
  REQUIRE(mine->has_value());
  CHECK((*mine)->epochs == 1);
  auto none = read_replica(records, 0);
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());

  auto status = read_job_status(records, "j1");
  REQUIRE_MESSAGE(status.has_value(), test::error_text(status));
  CHECK(status->replicas == 2);
  REQUIRE(status->records.size() == 2);
  CHECK_FALSE(status->records[0].has_value());
  CHECK(status->best_accuracy == doctest::Approx(0.6));
  const auto json = job_status_json("j1", *status, 12'500);
  CHECK(has(json, "\"workers\":[null,{\"replica\":1,\"epochs\":1"));
  // Doubles as people write them (Boost.JSON alone writes 2.5E0, 6E-1).
  CHECK(has(json, "\"heartbeat_age_seconds\":2.5,"));
  CHECK(has(json, "\"best_accuracy\":0.6,"));
  CHECK_FALSE(has(json, "E-"));
  CHECK(has(json, "\"model.hidden\":100"));

  // Setting the job up again clears the progress.
  REQUIRE(set_up_job(store, cfg, shape, initial, setup_mode::replace_idle)
              .has_value());
  auto cleared = read_replica(records, 1);
  REQUIRE(cleared.has_value());
  CHECK_FALSE(cleared->has_value());
}

TEST_CASE("job_records: the driver's notes round-trip, bad ones are named") {
  driver_note d;
  d.job_id = "00ff00ff00ff00ff";
  d.host = "setup-0";
  d.heartbeat_ms = 1'790'000'000'000;
  d.slots = {
      {"calling", "", 1'790'000'000'001, 3},
      {"waiting", "emnist-train answered 429: busy", 1'790'000'000'002, 1}};
  const auto text = encode_driver(d);
  auto back = decode_driver(text, "driver");
  REQUIRE_MESSAGE(back.has_value(), test::error_text(back));
  CHECK(back->job_id == d.job_id);
  CHECK(back->host == d.host);
  CHECK(back->heartbeat_ms == d.heartbeat_ms);
  REQUIRE(back->slots.size() == 2);
  CHECK(back->slots[1].state == "waiting");
  CHECK(back->slots[1].reason == d.slots[1].reason);
  CHECK(back->slots[0].calls == 3);
  auto bad = decode_driver(R"({"format":"emnist replica driver","version":2,
      "job_id":"x","host":"h","heartbeat_ms":1,"slots":[{"state":3}]})",
                           "driver");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code == errc::data_loss);
  CHECK(has(bad.error().message, "'driver': a slot's"));
}

TEST_CASE("job_records: a job's metadata keeps its state and creation id") {
  job_metadata m = describe_job(job_config{}, shape);
  m.state = "creating";
  m.id = "0123456789abcdef";
  auto back = decode_meta(encode_meta(m), "meta");
  REQUIRE_MESSAGE(back.has_value(), test::error_text(back));
  CHECK(back->state == "creating");
  CHECK(back->id == m.id);
  auto text = encode_meta(m);
  text.replace(text.find("\"creating\""), 10, "\"sleeping\"");
  auto bad = decode_meta(text, "meta");
  REQUIRE_FALSE(bad.has_value());
  CHECK(has(bad.error().message, "'meta': \"state\" is not"));
}
