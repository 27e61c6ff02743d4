// A time limit for a test, or a part of one, that could hang: past it the
// process says what hung and aborts. A hang is then a failure that names
// itself within the limit, not a run that only ctest's 600 s timeout ends
// (or nothing, when the suite runs outside ctest). Every test case runs
// under one (tests/test_main.cpp); a test whose own bound is tighter sets
// its own.
//
//   test::watchdog limit(std::chrono::seconds(180), "the pause test's job");
//   auto r = run_simulation(cfg, data);   // a hang here aborts at 180 s
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace emnist::test {

class watchdog {
 public:
  /// Armed from now until destroyed.
  watchdog(std::chrono::steady_clock::duration limit, std::string what);
  /// Disarms it (and joins its thread).
  ~watchdog();
  watchdog(const watchdog&) = delete;
  watchdog& operator=(const watchdog&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable disarmed_;
  bool done_ = false;
  std::thread thread_;
};

/// The limit of the watchdog every test case runs under:
/// $EMNIST_TEST_WATCHDOG_SECONDS, else 540 s (under ctest's --timeout 600,
/// so that the watchdog's message, naming the test, comes first).
std::chrono::seconds default_test_limit();

}  // namespace emnist::test
