// The live progress of `emnist simulate` on stderr: one line per replica,
// redrawn in place on a terminal, printed every few seconds otherwise.
#pragma once

#include <chrono>
#include <cstdio>

#include "actors/job_result.hpp"

namespace emnist::cli {

class progress_display {
 public:
  explicit progress_display(std::FILE* out);
  void show(const progress_report& p);
  /// Leaves the last drawing in place and moves below it.
  void close();

 private:
  std::FILE* out_;
  bool tty_;
  std::size_t lines_drawn_ = 0;
  std::chrono::steady_clock::time_point last_plain_{};
};

}  // namespace emnist::cli
