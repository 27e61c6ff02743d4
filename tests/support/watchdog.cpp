// Test watchdog (see watchdog.hpp).
#include "support/watchdog.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace emnist::test {

watchdog::watchdog(std::chrono::steady_clock::duration limit,
                   std::string what) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  const auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(limit).count();
  thread_ = std::thread([this, deadline, seconds, what = std::move(what)] {
    std::unique_lock lock(mutex_);
    if (disarmed_.wait_until(lock, deadline, [this] { return done_; })) {
      return;
    }
    // No test framework call here: this thread is not the test's, and the
    // test's own thread is stuck. SIGABRT's default action (a core for
    // gdb), not doctest's handler: that one reports the test case ended,
    // which would run this watchdog's destructor on its own thread, and
    // the process went on.
    std::fprintf(stderr,
                 "watchdog: %s still running after %lld s: aborting (a "
                 "hang)\n",
                 what.c_str(), static_cast<long long>(seconds));
    std::fflush(stderr);
    std::signal(SIGABRT, SIG_DFL);
    std::abort();
  });
}

watchdog::~watchdog() {
  {
    std::lock_guard lock(mutex_);
    done_ = true;
  }
  disarmed_.notify_all();
  thread_.join();
}

std::chrono::seconds default_test_limit() {
  if (const char* env = std::getenv("EMNIST_TEST_WATCHDOG_SECONDS")) {
    char* end = nullptr;
    const long long s = std::strtoll(env, &end, 10);
    if (end != env && *end == '\0' && s > 0) return std::chrono::seconds(s);
  }
  return std::chrono::seconds(540);
}

}  // namespace emnist::test
