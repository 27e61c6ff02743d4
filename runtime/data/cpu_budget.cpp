// The calling thread's CPU clock (POSIX CLOCK_THREAD_CPUTIME_ID).
#include "runtime/data/cpu_budget.hpp"

#include <time.h>

namespace emnist {
namespace {

std::chrono::nanoseconds thread_cpu_time() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec);
}

}  // namespace

cpu_budget::cpu_budget(std::chrono::nanoseconds limit) : limit_(limit) {
  if (limited()) start_ = thread_cpu_time();
}

std::chrono::nanoseconds cpu_budget::used() const {
  return limited() ? thread_cpu_time() - start_ : std::chrono::nanoseconds(0);
}

}  // namespace emnist
