// Linux: niceness is per thread (setpriority on the thread id).
#include "runtime/thread_priority.hpp"

#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace emnist {

expected<void> lower_thread_priority(int nice) {
  if (nice == 0) return {};
  const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
  errno = 0;
  const int current = ::getpriority(PRIO_PROCESS, tid);
  if (current == -1 && errno != 0) {
    return make_error(errc::unavailable,
                      std::string("getpriority: ") + std::strerror(errno));
  }
  if (::setpriority(PRIO_PROCESS, tid, current + nice) != 0) {
    return make_error(errc::unavailable,
                      std::string("setpriority: ") + std::strerror(errno));
  }
  return {};
}

}  // namespace emnist
