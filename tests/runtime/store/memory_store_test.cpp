// The embedded store: concurrent pushes are never lost, sizes are checked.
#include "runtime/store/memory_store.hpp"

#include <doctest/doctest.h>

#include <optional>
#include <thread>
#include <vector>

using namespace emnist;

TEST_CASE("memory_store: concurrent pushers lose no update") {
  const std::size_t n = 50'000;  // several blocks, the last one partial
  auto store = make_memory_store(n, 4096).parameters;
  std::vector<float> initial(n);
  for (std::size_t i = 0; i < n; ++i) initial[i] = float(i % 100);
  REQUIRE(store->initialize(initial).has_value());

  const int pushers = 4;
  const int pushes_each = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < pushers; ++t) {
    threads.emplace_back([&, t] {
      // Small integers: float sums stay exact, so equality is exact.
      std::vector<float> delta(n);
      for (std::size_t i = 0; i < n; ++i) delta[i] = float((i + t) % 3);
      std::vector<float> seen(n);
      for (int k = 0; k < pushes_each; ++k) {
        store->push(delta, [](expected<void> r) { REQUIRE(r.has_value()); });
        if (k % 50 == 0)
          store->fetch(seen, parameter_store::mixed_version,
                       [](expected<std::uint64_t>) {});
      }
    });
  }
  for (auto& t : threads) t.join();

  std::vector<float> final_values(n);
  std::uint64_t version = 0;
  store->fetch(final_values, parameter_store::mixed_version,
               [&](expected<std::uint64_t> r) {
                 REQUIRE(r.has_value());
                 version = *r;
               });
  CHECK(version == pushers * pushes_each);
  std::size_t wrong = 0;
  for (std::size_t i = 0; i < n; ++i) {
    float expected_value = initial[i];
    for (int t = 0; t < pushers; ++t) {
      expected_value += float(pushes_each) * float((i + t) % 3);
    }
    wrong += final_values[i] == expected_value ? 0 : 1;
  }
  CHECK(wrong == 0);
  const auto stats = store->stats();
  CHECK(stats.pushes == pushers * pushes_each);
  CHECK(stats.pushes_applied == stats.pushes);
  CHECK(stats.bytes_sent == stats.pushes * n * sizeof(float));
}

TEST_CASE("memory_store: a wrong size is an error, not a crash") {
  auto store = make_memory_store(10).parameters;
  std::vector<float> wrong(9);
  auto init = store->initialize(wrong);
  REQUIRE_FALSE(init.has_value());
  CHECK(init.error().message == "memory store: expected 10 floats, got 9");
  std::optional<error> seen;
  store->push(wrong, [&](expected<void> r) {
    if (!r) seen = r.error();
  });
  REQUIRE(seen.has_value());
  CHECK(seen->code == errc::invalid_argument);
  CHECK(store->stats().pushes_applied == 0);
}

TEST_CASE("memory_store: versions, and 'not modified' fetches skip the copy") {
  auto store = make_memory_store(3).parameters;
  REQUIRE(store->initialize(std::vector<float>{1, 2, 3}).has_value());
  std::vector<float> out{9, 9, 9};
  std::uint64_t version = 99;
  auto remember = [&](expected<std::uint64_t> r) {
    REQUIRE(r.has_value());
    version = *r;
  };
  store->fetch(out, 0, remember);  // the caller already has version 0
  CHECK(version == 0);
  CHECK(out == std::vector<float>{9, 9, 9});
  store->fetch(out, parameter_store::mixed_version, remember);
  CHECK(out == std::vector<float>{1, 2, 3});
  const std::vector<float> delta{1, 1, 1};
  store->push(delta, [](expected<void> r) { REQUIRE(r.has_value()); });
  store->fetch(out, 0, remember);  // stale: copied
  CHECK(version == 1);
  CHECK(out == std::vector<float>{2, 3, 4});
}
