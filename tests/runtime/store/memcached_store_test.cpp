// The memcached store against real memcached servers started by the test.
#include "runtime/store/memcached_store.hpp"

#include <doctest/doctest.h>
#include <libmemcached/memcached.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "support/memcached_server.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

/// A job's options on `server` as the tests use them: short timeouts, so
/// that a failure shows quickly.
memcached_options options_on(const test::memcached_server& server,
                             const std::string& job,
                             std::size_t block_floats = 4096) {
  memcached_options o;
  o.servers = {server.address()};
  o.job = job;
  o.block_floats = block_floats;
  o.job_tag = 77;
  o.timeout = std::chrono::milliseconds(500);
  o.retry_for = std::chrono::milliseconds(300);
  return o;
}

std::shared_ptr<parameter_store> open_store(std::size_t floats,
                                            const memcached_options& o) {
  auto s = make_memcached_store(floats, o);
  REQUIRE_MESSAGE(s.has_value(), test::error_text(s));
  return s->parameters;
}

std::shared_ptr<parameter_store> store_on(const test::memcached_server& server,
                                          std::size_t floats,
                                          const std::string& job,
                                          std::size_t block_floats = 4096) {
  return open_store(floats, options_on(server, job, block_floats));
}

expected<std::uint64_t> fetch_sync(parameter_store& s,
                                   std::vector<float>& out) {
  std::promise<expected<std::uint64_t>> done;
  s.fetch(out, parameter_store::mixed_version,
          [&](expected<std::uint64_t> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

expected<std::uint64_t> push_fetch_sync(parameter_store& s,
                                        const std::vector<float>& delta,
                                        std::vector<float>& out) {
  std::promise<expected<std::uint64_t>> done;
  s.push_and_fetch(delta, out, [&](expected<std::uint64_t> r) {
    done.set_value(std::move(r));
  });
  return done.get_future().get();
}

expected<void> push_sync(parameter_store& s, const std::vector<float>& delta) {
  std::promise<expected<void>> done;
  s.push(delta, [&](expected<void> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

expected<void> restore_sync(parameter_store& s,
                            const std::vector<float>& params) {
  std::promise<expected<void>> done;
  s.restore(params, [&](expected<void> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

void raw_set(const test::memcached_server& server, const std::string& key,
             const std::string& value) {
  memcached_st* m = memcached_create(nullptr);
  memcached_server_add(m, "127.0.0.1", server.port());
  memcached_behavior_set(m, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
  REQUIRE(memcached_set(m, key.data(), key.size(), value.data(), value.size(),
                        0, 0) == MEMCACHED_SUCCESS);
  memcached_free(m);
}

}  // namespace

TEST_CASE("memcached_store: concurrent pushers lose no update") {
  test::memcached_server server;
  const std::size_t n = 10'000;  // three blocks of 4096, the last partial
  auto store = store_on(server, n, "nolost");
  // A second store on the same job, like a replica in another process:
  // its pushes change blocks behind the first store's cached copies.
  auto other = store_on(server, n, "nolost");
  std::vector<float> initial(n);
  for (std::size_t i = 0; i < n; ++i) initial[i] = float(i % 50);
  REQUIRE(store->initialize(initial).has_value());

  const int pushers = 4;
  const int pushes_each = 150;
  std::vector<std::thread> threads;
  for (int t = 0; t < pushers; ++t) {
    threads.emplace_back([&, t] {
      auto& s = t < 3 ? *store : *other;
      std::vector<float> delta(n);
      for (std::size_t i = 0; i < n; ++i) delta[i] = float((i + t) % 3);
      std::vector<float> fresh(n);
      for (int k = 0; k < pushes_each; ++k) {
        // Half the pushers fetch with each push, in one operation.
        if (t % 2 == 1) {
          auto r = push_fetch_sync(s, delta, fresh);
          REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
        } else {
          auto r = push_sync(s, delta);
          REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
        }
      }
    });
  }
  for (auto& t : threads) t.join();

  // A push completes once queued; a fetch for memcached's own word waits
  // for the process's pushes to land. The other process's first.
  std::vector<float> out(n);
  REQUIRE(fetch_sync(*other, out).has_value());
  auto version = fetch_sync(*store, out);
  REQUIRE(version.has_value());
  CHECK(*version == pushers * pushes_each);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) {
    float want = initial[i];
    for (int t = 0; t < pushers; ++t)
      want += float(pushes_each) * float((i + t) % 3);
    wrong += out[i] == want ? 0 : 1;
  }
  CHECK(wrong == 0);
  const auto a = store->stats();
  const auto b = other->stats();
  CHECK(a.pushes + b.pushes == pushers * pushes_each);
  CHECK(a.pushes_applied == a.pushes);
  CHECK(b.pushes_applied == b.pushes);
  MESSAGE("cas retries: " << a.cas_retries + b.cas_retries
                          << ", reads skipped: "
                          << a.push_reads_skipped + b.push_reads_skipped);
}

TEST_CASE("memcached_store: a push reads a block only when another wrote it") {
  test::memcached_server server;
  const std::size_t n = 10'000;  // three blocks
  auto a = store_on(server, n, "cache");
  auto b = store_on(server, n, "cache");
  REQUIRE(a->initialize(std::vector<float>(n, 1.0f)).has_value());
  std::vector<float> fresh(n);
  const std::vector<float> one(n, 1.0f);
  // Each push, then a fetch for memcached's word: it waits for the write.
  auto push_landed = [&](parameter_store& s, const std::vector<float>& d) {
    REQUIRE(push_sync(s, d).has_value());
    REQUIRE(fetch_sync(s, fresh).has_value());
  };

  // The first write reads every block; the next ones add to the copy they
  // wrote, and memcached's token confirms nobody wrote in between.
  push_landed(*a, one);
  CHECK(a->stats().push_reads_skipped == 0);
  for (int k = 0; k < 3; ++k) push_landed(*a, one);
  CHECK(a->stats().push_reads_skipped == 9);
  CHECK(fresh == std::vector<float>(n, 5.0f));

  // Another writer: the cas on the stale copy is refused, the write reads
  // the blocks, and the sum holds everyone's deltas.
  push_landed(*b, std::vector<float>(n, 10.0f));
  push_landed(*a, one);
  CHECK(a->stats().push_reads_skipped == 9);
  CHECK(a->stats().cas_retries == 0);  // a refused cached cas is no conflict
  CHECK(fresh == std::vector<float>(n, 16.0f));
  // ... and the next write uses the copy again.
  push_landed(*a, one);
  CHECK(a->stats().push_reads_skipped == 12);

  SUBCASE("always: every push reads") {
    memcached_options o = options_on(server, "cache");
    o.push_reads = push_read_policy::always;
    auto s = open_store(n, o);
    push_landed(*s, one);
    push_landed(*s, one);
    CHECK(s->stats().push_reads_skipped == 0);
    CHECK(fresh == std::vector<float>(n, 19.0f));
  }
}

TEST_CASE("memcached_store: pushes complete at once and land in push order") {
  test::memcached_server server;
  const std::size_t n = 10'000;
  auto store = store_on(server, n, "writeback");
  std::vector<float> initial(n, 0.5f), out(n);
  REQUIRE(store->initialize(initial).has_value());
  REQUIRE(fetch_sync(*store, out).has_value());
  // Deltas whose float sum depends on the order they are added in: the
  // store must end where adding them one by one ends, however many
  // pushes shared a write.
  std::vector<float> want = initial;
  for (int k = 0; k < 200; ++k) {
    std::vector<float> d(n);
    for (std::size_t i = 0; i < n; ++i) {
      d[i] = (k % 3 == 0 ? 1e-3f : 7.0f) * float((i + std::size_t(k)) % 11);
      want[i] += d[i];
    }
    REQUIRE(push_sync(*store, d).has_value());
  }
  auto v = fetch_sync(*store, out);
  REQUIRE(v.has_value());
  CHECK(*v == 200);
  CHECK(out == want);
  const auto st = store->stats();
  CHECK(st.pushes_applied == 200);
  MESSAGE("pushes that shared a write: " << st.push_blocks_combined);
}

TEST_CASE("memcached_store: push_and_fetch returns the sums it wrote") {
  test::memcached_server server;
  const std::size_t n = 10'000;
  auto store = store_on(server, n, "pushfetch");
  std::vector<float> initial(n, 1.0f), delta(n), out(n);
  for (std::size_t i = 0; i < n; ++i) delta[i] = float(i % 7);
  REQUIRE(store->initialize(initial).has_value());
  for (std::uint64_t k = 1; k <= 3; ++k) {
    auto v = push_fetch_sync(*store, delta, out);
    REQUIRE_MESSAGE(v.has_value(), test::error_text(v));
    CHECK(*v == k);  // every block has seen k pushes
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i) {
      wrong += out[i] == 1.0f + float(k) * delta[i] ? 0 : 1;
    }
    CHECK(wrong == 0);
  }
  // A plain fetch agrees, and knows the same version.
  std::vector<float> again(n);
  auto v = fetch_sync(*store, again);
  REQUIRE(v.has_value());
  CHECK(*v == 3);
  CHECK(again == out);
  CHECK(store->stats().pushes_applied == 3);
}

TEST_CASE("memcached_store: two jobs on one server never touch each other") {
  test::memcached_server server;
  auto a = store_on(server, 100, "job-a");
  auto b = store_on(server, 100, "job-b");
  REQUIRE(a->initialize(std::vector<float>(100, 1.0f)).has_value());
  REQUIRE(b->initialize(std::vector<float>(100, 5.0f)).has_value());
  REQUIRE(push_sync(*a, std::vector<float>(100, 2.0f)).has_value());
  std::vector<float> out(100);
  REQUIRE(fetch_sync(*b, out).has_value());
  CHECK(out == std::vector<float>(100, 5.0f));
  REQUIRE(fetch_sync(*a, out).has_value());
  CHECK(out == std::vector<float>(100, 3.0f));
}

TEST_CASE("memcached_store: corrupt, foreign and missing blocks are refused") {
  test::memcached_server server;
  // One block: a fetch reads every block before it fails on a bad one, and
  // copies the good ones into its output (valid only on success), so
  // "nothing half-written" holds for a value of one block.
  auto store = store_on(server, 100, "j1");
  REQUIRE(store->initialize(std::vector<float>(100, 1.0f)).has_value());
  const std::vector<float> untouched(100, -1.0f);
  std::vector<float> out = untouched;

  SUBCASE("garbage under the key") {
    raw_set(server, "emnist:j1:b:0", "hello, I am not a block");
    auto r = fetch_sync(*store, out);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("'emnist:j1:b:0'") != std::string::npos);
  }
  SUBCASE("a value larger than any block of the job") {
    raw_set(server, "emnist:j1:b:0", std::string(5000, 'x'));
    // The push is queued; its write fails, and the next fetch and push
    // say why.
    REQUIRE(push_sync(*store, std::vector<float>(100, 1.0f)).has_value());
    auto p = fetch_sync(*store, out);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().code == errc::data_loss);
    CHECK(p.error().message.find("'emnist:j1:b:0'") != std::string::npos);
    CHECK(p.error().message.find("5000 bytes, at most 448 expected") !=
          std::string::npos);
    auto again = push_sync(*store, std::vector<float>(100, 1.0f));
    REQUIRE_FALSE(again.has_value());
    CHECK(again.error().message == p.error().message);
  }
  SUBCASE("a block of another job's shape") {
    auto other = store_on(server, 50, "j1");  // same keys, other size
    REQUIRE(other->initialize(std::vector<float>(50, 1.0f)).has_value());
    auto r = fetch_sync(*store, out);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("50 floats, expected 100") !=
          std::string::npos);
  }
  SUBCASE("a missing block (server restarted empty)") {
    server.stop();
    server.start();
    auto r = fetch_sync(*store, out);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::not_found);
    CHECK(r.error().message.find("missing") != std::string::npos);
    CHECK(out == untouched);
    REQUIRE(push_sync(*store, std::vector<float>(100, 1.0f)).has_value());
    auto p = fetch_sync(*store, out);
    REQUIRE_FALSE(p.has_value());
    CHECK(p.error().code == errc::not_found);
    CHECK(out == untouched);
    // The failed write went with the block: the replica restores what it
    // knows it pushed, and writes go on from there.
    REQUIRE(restore_sync(*store, std::vector<float>(100, 2.0f)).has_value());
    REQUIRE(push_sync(*store, std::vector<float>(100, 1.0f)).has_value());
    std::vector<float> restored(100, -1.0f);
    auto f = fetch_sync(*store, restored);
    REQUIRE(f.has_value());
    CHECK(restored == std::vector<float>(100, 3.0f));
  }
  // Nothing half-written: a fetch that fails leaves its output as it was.
  CHECK(out == untouched);
}

TEST_CASE("memcached_store: a paused server holds the push past the backlog") {
  // An outage step by step, as a replica's pushes meet it: with memcached
  // stopped (SIGSTOP), max_unwritten pushes complete at once (queued), the
  // next completes only once memcached stores again, and nothing is lost.
  test::memcached_server server;
  const std::size_t n = 10'000;  // three blocks
  memcached_options o = options_on(server, "held");
  o.timeout = std::chrono::milliseconds(200);
  o.retry_for = std::chrono::milliseconds(10'000);
  o.max_unwritten = 4;
  const auto opened = open_store(n, o);
  auto& store = *opened;
  const std::vector<float> initial(n, 1.0f);
  REQUIRE(store.initialize(initial).has_value());

  // Completions may come after a failed REQUIRE has left this scope.
  using completion = std::promise<expected<void>>;
  const auto push = [&](const std::vector<float>& delta) {
    auto done = std::make_shared<completion>();
    auto result = done->get_future();
    store.push(delta, [done](expected<void> r) { done->set_value(r); });
    return result;
  };
  std::vector<std::vector<float>> deltas;
  for (std::size_t k = 0; k <= o.max_unwritten; ++k) {
    deltas.emplace_back(n, float(k + 1));
  }
  server.pause();
  for (std::size_t k = 0; k < o.max_unwritten; ++k) {
    CAPTURE(k);
    auto queued = push(deltas[k]);
    REQUIRE(queued.wait_for(std::chrono::seconds(5)) ==
            std::future_status::ready);
    REQUIRE(queued.get().has_value());
  }
  CHECK(store.stats().pushes_held == 0);
  auto held = push(deltas[o.max_unwritten]);
  // Still waiting well past a write's timeout (200 ms), retried meanwhile.
  CHECK(held.wait_for(std::chrono::milliseconds(600)) ==
        std::future_status::timeout);
  CHECK(store.stats().pushes_held == 1);
  server.resume();
  REQUIRE(held.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  REQUIRE(held.get().has_value());

  std::vector<float> out(n);
  auto version = fetch_sync(store, out);
  REQUIRE_MESSAGE(version.has_value(), test::error_text(version));
  CHECK(*version == o.max_unwritten + 1);
  const float sum = float((o.max_unwritten + 1) * (o.max_unwritten + 2) / 2);
  CHECK(out == std::vector<float>(n, 1.0f + sum));
  CHECK(store.stats().pushes_applied == o.max_unwritten + 1);
}

TEST_CASE("memcached_store: a server without CAS is refused, not used") {
  // memcached -C answers every gets with token 0, and a cas with token 0
  // is a plain set: replicas would overwrite each other's updates.
  test::memcached_server server({"-C"});
  auto store = store_on(server, 100, "nocas");
  REQUIRE(store->initialize(std::vector<float>(100, 1.0f)).has_value());
  REQUIRE(push_sync(*store, std::vector<float>(100, 1.0f)).has_value());
  std::vector<float> out(100);
  auto p = fetch_sync(*store, out);
  REQUIRE_FALSE(p.has_value());
  CHECK(p.error().message.find("CAS disabled") != std::string::npos);
  CHECK(p.error().message.find(server.address()) != std::string::npos);
}

TEST_CASE("memcached_store: an unreachable server fails fast, never hangs") {
  test::memcached_server server;
  auto store = store_on(server, 100, "gone");
  server.stop();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<float> out(100);
  auto r = fetch_sync(*store, out);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::unavailable);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10));
}

TEST_CASE("memcached_store: bad options are errors that name them") {
  memcached_options o;
  o.servers = {"localhost"};
  auto s = make_memcached_store(10, o);
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().message == "sync.servers: 'localhost': expected host:port");
  o.servers = {"127.0.0.1:11211"};
  o.job = "no spaces please";
  s = make_memcached_store(10, o);
  REQUIRE_FALSE(s.has_value());
  CHECK(s.error().message.find("sync.job") == 0);
  for (const char* bad : {"..", ".", ".hidden", "-rf", "a b", "x:y"}) {
    CAPTURE(bad);
    o.job = bad;
    CHECK_FALSE(make_memcached_store(10, o).has_value());
  }
  o.job = std::string(65, 'j');
  CHECK_FALSE(make_memcached_store(10, o).has_value());
  o.job = "job-20261130.v2_a";
  CHECK(valid_job_name(o.job));
}

namespace {

/// A fetch from the store's view (a replica's, with a version it knows).
expected<std::uint64_t> view_fetch_sync(parameter_store& s,
                                        std::vector<float>& out,
                                        std::uint64_t known) {
  std::promise<expected<std::uint64_t>> done;
  s.fetch(out, known,
          [&](expected<std::uint64_t> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

/// A store as one process of a job of several has it: its writes at once
/// (write_interval 0), its view checked when older than max_view_age.
std::shared_ptr<parameter_store> process_store(
    const test::memcached_server& server, std::size_t floats,
    std::chrono::microseconds max_view_age,
    std::chrono::milliseconds lone_interval = std::chrono::milliseconds(0)) {
  memcached_options o = options_on(server, "views");
  o.write_interval = std::chrono::milliseconds(0);
  o.max_view_age = max_view_age;
  o.lone_interval = lone_interval;
  return open_store(floats, o);
}

}  // namespace

TEST_CASE(
    "memcached_store: a view older than max_view_age is checked, and shows "
    "another process's pushes") {
  test::memcached_server server;
  const std::size_t n = 10000;  // three blocks
  const std::vector<float> zeros(n, 0.0f), ones(n, 1.0f);
  std::vector<float> out(n);
  // Two processes of one job, each with a store of its own.
  const auto age = std::chrono::milliseconds(200);  // half: 100 ms
  auto mine = process_store(server, n, age);
  REQUIRE(mine->initialize(zeros).has_value());
  auto other = process_store(server, n, age);
  // Each has a view once a write of its own has landed.
  REQUIRE(push_fetch_sync(*mine, zeros, out).has_value());
  REQUIRE(push_fetch_sync(*other, zeros, out).has_value());
  REQUIRE(fetch_sync(*mine, out).has_value());  // memcached's word: landed

  REQUIRE(push_sync(*other, ones).has_value());
  REQUIRE(fetch_sync(*other, out).has_value());  // the push landed
  // Within max_view_age, the view is served as it is: without the push.
  auto v = view_fetch_sync(*mine, out, parameter_store::mixed_version - 1);
  REQUIRE(v.has_value());
  CHECK(out[0] == 0.0f);
  CHECK(out[n - 1] == 0.0f);
  const auto before = mine->stats();
  // Past it, every block is checked, found changed and read.
  std::this_thread::sleep_for(age + std::chrono::milliseconds(5));
  v = view_fetch_sync(*mine, out, parameter_store::mixed_version - 1);
  REQUIRE(v.has_value());
  CHECK(out[0] == 1.0f);
  CHECK(out[n - 1] == 1.0f);
  auto after = mine->stats();
  CHECK(after.views_checked - before.views_checked == 3);
  CHECK(after.views_refreshed - before.views_refreshed == 3);

  // Nothing changed since: a check compares CAS tokens and reads nothing.
  std::this_thread::sleep_for(age + std::chrono::milliseconds(5));
  const auto received = after.bytes_received;
  v = view_fetch_sync(*mine, out, parameter_store::mixed_version - 1);
  REQUIRE(v.has_value());
  CHECK(out[0] == 1.0f);
  const auto last = mine->stats();
  CHECK(last.views_checked - after.views_checked == 3);
  CHECK(last.views_refreshed == after.views_refreshed);
  CHECK(last.bytes_received == received);

  // A view that is never checked (-1) follows this process's writes only.
  auto blind = process_store(server, n, std::chrono::microseconds(-1));
  REQUIRE(push_fetch_sync(*blind, zeros, out).has_value());
  REQUIRE(fetch_sync(*blind, out).has_value());
  REQUIRE(push_sync(*other, ones).has_value());
  REQUIRE(fetch_sync(*other, out).has_value());
  std::this_thread::sleep_for(age + std::chrono::milliseconds(5));
  v = view_fetch_sync(*blind, out, parameter_store::mixed_version - 1);
  REQUIRE(v.has_value());
  CHECK(out[0] == 1.0f);  // as of its own last write: the first push only
  CHECK(blind->stats().views_checked == 0);
}

TEST_CASE(
    "memcached_store: pushes queued while a view is checked are kept in it") {
  test::memcached_server server;
  const std::size_t n = 5000;
  const std::vector<float> zeros(n, 0.0f), ones(n, 1.0f);
  std::vector<float> out(n);
  auto mine = process_store(server, n, std::chrono::microseconds(0));
  REQUIRE(mine->initialize(zeros).has_value());
  auto other = process_store(server, n, std::chrono::microseconds(0));
  REQUIRE(push_fetch_sync(*other, zeros, out).has_value());
  // max_view_age 0: every fetch from the view checks it first. Pushes of
  // both processes interleave with the checks; in the end both views and
  // memcached hold every push, none twice.
  for (int i = 0; i < 50; ++i) {
    REQUIRE(push_sync(*mine, ones).has_value());
    REQUIRE(push_sync(*other, ones).has_value());
    REQUIRE(view_fetch_sync(*mine, out, parameter_store::mixed_version - 1)
                .has_value());
  }
  REQUIRE(fetch_sync(*other, out).has_value());  // other's pushes landed
  REQUIRE(fetch_sync(*mine, out).has_value());
  CHECK(out[0] == 100.0f);
  CHECK(out[n - 1] == 100.0f);
  REQUIRE(view_fetch_sync(*mine, out, parameter_store::mixed_version - 1)
              .has_value());
  CHECK(out[0] == 100.0f);
  CHECK(out[n - 1] == 100.0f);
  CHECK(mine->stats().views_checked > 0);
}

TEST_CASE(
    "memcached_store: a process alone on its job stops checking its view, "
    "and the first write of another process ends that") {
  test::memcached_server server;
  const std::size_t n = 10000;  // three blocks
  const std::vector<float> zeros(n, 0.0f), ones(n, 1.0f);
  std::vector<float> out(n);
  const auto lone = std::chrono::milliseconds(200);  // alone after 800 ms
  const auto every_fetch = std::chrono::microseconds(0);
  const auto view_fetch = [&](parameter_store& s) {
    REQUIRE(view_fetch_sync(s, out, parameter_store::mixed_version - 1)
                .has_value());
  };
  // Checks on every fetch, but alone after 800 ms without another's write.
  auto mine = process_store(server, n, every_fetch, lone);
  REQUIRE(mine->initialize(zeros).has_value());
  // The same, never alone, alone on a server of its own: the shape the
  // first is compared with.
  test::memcached_server own_server;
  auto never = process_store(own_server, n, every_fetch);
  REQUIRE(never->initialize(zeros).has_value());
  REQUIRE(push_fetch_sync(*mine, zeros, out).has_value());
  REQUIRE(push_fetch_sync(*never, zeros, out).has_value());
  REQUIRE(fetch_sync(*mine, out).has_value());
  REQUIRE(fetch_sync(*never, out).has_value());
  std::this_thread::sleep_for(4 * lone + std::chrono::milliseconds(50));
  // 800 ms without another process's write: `mine` is alone. Its view may
  // be 200 ms old (the first fetch checks it, being older), where `never`
  // checks every block on every fetch.
  auto before = mine->stats();
  const auto never_before = never->stats();
  for (int i = 0; i < 10; ++i) {
    view_fetch(*mine);
    view_fetch(*never);
  }
  CHECK(mine->stats().views_checked - before.views_checked <= 3);
  CHECK(never->stats().views_checked - never_before.views_checked == 30);

  // Another process writes: `mine`'s next write finds the block changed
  // (its CAS fails), so it reads the block and is no longer alone.
  auto other = process_store(server, n, every_fetch);
  REQUIRE(push_sync(*other, ones).has_value());
  REQUIRE(fetch_sync(*other, out).has_value());  // landed: 1 + 0 + 0
  REQUIRE(push_sync(*mine, ones).has_value());
  REQUIRE(fetch_sync(*mine, out).has_value());  // landed on it: 2
  CHECK(out[0] == 2.0f);
  // From now on every fetch checks again, and shows another's push at once.
  REQUIRE(push_sync(*other, ones).has_value());
  REQUIRE(fetch_sync(*other, out).has_value());  // 3
  before = mine->stats();
  view_fetch(*mine);
  CHECK(out[0] == 3.0f);
  CHECK(out[n - 1] == 3.0f);
  view_fetch(*mine);
  CHECK(mine->stats().views_checked - before.views_checked == 6);
}
