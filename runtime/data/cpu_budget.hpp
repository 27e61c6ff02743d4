// A bound on the CPU time the calling thread spends on one piece of work
// (a request's image decode), checked where the work can stop. CPU time,
// not wall time: a decode on a busy machine waits for a core without
// spending its budget, so a load spike never refuses a fair image, and a
// costly image is refused however idle the machine is.
//
//   cpu_budget budget(std::chrono::milliseconds(250));
//   for (auto& row : rows) {
//     if (budget.spent()) return refuse(budget.limit());
//     work(row);
//   }
//
// Measured on the thread that made it: use it on that thread only.
#pragma once

#include <chrono>

namespace emnist {

class cpu_budget {
 public:
  /// No limit: spent() is always false.
  cpu_budget() = default;
  /// `limit` of this thread's CPU time from now on (0: no limit).
  explicit cpu_budget(std::chrono::nanoseconds limit);

  [[nodiscard]] bool limited() const { return limit_.count() > 0; }
  [[nodiscard]] std::chrono::nanoseconds limit() const { return limit_; }
  /// This thread's CPU time since the budget was made (0 when unlimited).
  [[nodiscard]] std::chrono::nanoseconds used() const;
  /// More than `limit` used. A system call (about 0.3 us): check it every
  /// so many rows or kilobytes, not every byte.
  [[nodiscard]] bool spent() const { return limited() && used() > limit_; }

 private:
  std::chrono::nanoseconds limit_{0};
  std::chrono::nanoseconds start_{0};
};

}  // namespace emnist
