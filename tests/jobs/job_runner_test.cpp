// The process's job runner: several jobs on one actor system, a stop that
// is a message, and errors that come back through `done`.
#include "jobs/job_runner.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>

#include "jobs/store_config.hpp"
#include "model/mlp.hpp"
#include "runtime/store/store_factory.hpp"
#include "support/memcached_server.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

job_config small_job() {
  auto cfg = test::small_job();
  cfg.train.target_accuracy = 0.6;
  return cfg;
}

std::shared_ptr<const job_data> data() {
  // The test data lives for the whole run: borrow it.
  return {std::shared_ptr<const job_data>{}, &test::bymerge_data(20000)};
}

struct waiter {
  std::promise<expected<simulation_result>> promise;
  std::future<expected<simulation_result>> future = promise.get_future();
  job_runner::done_callback done() {
    return [this](expected<simulation_result> r) {
      promise.set_value(std::move(r));
    };
  }
};

}  // namespace

TEST_CASE("job runner: two jobs at once on one actor system") {
  job_runner runner(2);
  waiter a, b;
  auto cfg = small_job();
  cfg.train.replicas = 2;
  runner.start(cfg, data(), {job_start::create, {}}, {}, a.done());
  runner.start(small_job(), data(), {job_start::create, {}}, {}, b.done());
  auto ra = a.future.get();
  auto rb = b.future.get();
  REQUIRE_MESSAGE(ra.has_value(), test::error_text(ra));
  REQUIRE_MESSAGE(rb.has_value(), test::error_text(rb));
  CHECK(ra->reached);
  CHECK(rb->reached);
  CHECK(ra->workers.size() == 2);
  CHECK(rb->workers.size() == 1);
  CHECK(runner.wait_idle(std::chrono::steady_clock::now() +
                         std::chrono::seconds(10)));
  CHECK(runner.running() == 0);
}

TEST_CASE("job runner: stop is a message, and the job still answers") {
  job_runner runner(2);
  auto cfg = small_job();
  cfg.train.target_accuracy = 1.0;  // never reached
  cfg.train.max_epochs = 1000;
  waiter w;
  std::atomic<int> reports{0};
  std::promise<void> first;
  const auto id = runner.start(
      cfg, data(), {job_start::create, {}},
      [&](const progress_report&) {
        if (reports++ == 0) first.set_value();
      },
      w.done());
  first.get_future().wait();  // it trains
  const auto t0 = std::chrono::steady_clock::now();
  runner.stop(id);
  auto r = w.future.get();
  REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
  CHECK(r->interrupted);
  CHECK(r->stop_reason == "interrupted");
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
  // A job counts as running until its `done` has returned.
  CHECK(runner.wait_idle(std::chrono::steady_clock::now() +
                         std::chrono::seconds(10)));
  CHECK(runner.running() == 0);
}

TEST_CASE("job runner: a stop before the job starts, and stop_all") {
  job_runner runner(2);
  auto cfg = small_job();
  cfg.train.target_accuracy = 1.0;
  cfg.train.max_epochs = 1000;
  runner.stop_all();  // every job from now on stops as it starts
  waiter w;
  runner.start(cfg, data(), {job_start::create, {}}, {}, w.done());
  auto r = w.future.get();
  REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
  CHECK(r->interrupted);
}

TEST_CASE("job runner: a job that cannot start says why through done") {
  job_runner runner(1);
  auto cfg = small_job();
  cfg.train.batch_size = 50'000;  // larger than the 20,000 samples
  waiter w;
  runner.start(cfg, data(), {job_start::create, {}}, {}, w.done());
  auto r = w.future.get();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::invalid_argument);
  CHECK(r.error().message.find("train.batch_size = 50000") !=
        std::string::npos);

  waiter resume;
  runner.start(small_job(), data(), {job_start::resume, {}}, {}, resume.done());
  auto rr = resume.future.get();
  REQUIRE_FALSE(rr.has_value());
  CHECK(rr.error().message.find("resume needs memcached") != std::string::npos);
}

TEST_CASE("job runner: replicas of one memcached job as separate calls") {
  // As `emnist serve --function all` runs two train calls of one job:
  // each is a job of the runner, and they share the job's store.
  test::memcached_server server;
  auto cfg = small_job();
  cfg.train.replicas = 2;
  cfg.sync.store = store_kind::memcached;
  cfg.sync.servers = {server.address()};
  cfg.sync.job = "runner-shared";
  {
    waiter setup;  // create the job: no replica runs (ids none of it)
    auto create = cfg;
    create.train.max_epochs = 0;
    job_runner once(1);
    once.start(create, data(), {job_start::create, {0}}, {}, setup.done());
    auto made = setup.future.get();
    REQUIRE_MESSAGE(made.has_value(), test::error_text(made));
  }
  job_runner runner(2);
  waiter a, b;
  runner.start(cfg, data(), {job_start::resume, {0}}, {}, a.done());
  runner.start(cfg, data(), {job_start::resume, {1}}, {}, b.done());
  auto ra = a.future.get();
  auto rb = b.future.get();
  REQUIRE_MESSAGE(ra.has_value(), test::error_text(ra));
  REQUIRE_MESSAGE(rb.has_value(), test::error_text(rb));
  CHECK((ra->reached || rb->reached));
  // Each call counts the store's work during its run, not since the
  // store was made (the two runs overlap, so each sees some of the
  // other's).
  CHECK(ra->sync.pushes > 0);
  CHECK(rb->sync.pushes > 0);
  // Every push of both landed in every block (the parameters span two):
  // the blocks agree on how many pushes they hold.
  auto store = make_store(store_options_of(cfg, mlp_shape{784, 100, 47}),
                          mlp_shape{784, 100, 47}.size());
  REQUIRE(store.has_value());
  std::vector<float> out(mlp_shape{784, 100, 47}.size());
  std::promise<expected<std::uint64_t>> fetched;
  store->parameters->fetch(
      out, parameter_store::mixed_version,
      [&](expected<std::uint64_t> v) { fetched.set_value(std::move(v)); });
  auto version = fetched.get_future().get();
  REQUIRE(version.has_value());
  CHECK(*version != parameter_store::mixed_version);
  CHECK(*version > 0);
}
