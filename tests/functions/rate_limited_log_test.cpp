// Refusals logged without a line per request.
#include "functions/rate_limited_log.hpp"

#include <doctest/doctest.h>

#include <chrono>

using namespace emnist;
using namespace std::chrono_literals;

TEST_CASE("rate-limited log: one line an interval, then how many were left") {
  rate_limited_log log("emnist-predict: refused", 1s, nullptr);
  const auto t0 = rate_limited_log::clock::now();
  CHECK(log.note("the body: a", t0) == "emnist-predict: refused: the body: a");
  for (int i = 1; i <= 4000; ++i) {
    CHECK_FALSE(log.note("the body: b", t0 + i * 200us).has_value());
  }
  CHECK(log.note("the body: c", t0 + 1500ms) ==
        "emnist-predict: refused: the body: c (and 4000 more in the last 1.5 "
        "s)");
  CHECK_FALSE(log.note("the body: d", t0 + 2s).has_value());
  CHECK(log.note("the body: e", t0 + 2600ms) ==
        "emnist-predict: refused: the body: e (and 1 more in the last 1.1 s)");
}
