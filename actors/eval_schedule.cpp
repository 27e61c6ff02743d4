// The evaluation schedule's bookkeeping.
#include "actors/eval_schedule.hpp"

#include <algorithm>

namespace emnist {

eval_schedule::eval_schedule(std::uint64_t period, std::uint64_t start_steps)
    : period_(std::max<std::uint64_t>(period, 1)),
      next_due_(start_steps + period_) {}

bool eval_schedule::progress(std::uint64_t total) {
  if (total >= next_due_) {
    const std::uint64_t due = next_due_;
    // The next due point after `total`, on the grid of the period: a jump
    // over several due points owes one evaluation, not several.
    next_due_ += (total - next_due_) / period_ * period_ + period_;
    if (running_) {
      if (!waiting_) waiting_ = due;
      return false;
    }
    if (!owed_since_) owed_since_ = due;
  }
  if (running_ || !owed_since_) return false;
  running_ = true;  // a due (or failed) evaluation starts now
  return true;
}

bool eval_schedule::start_extra() {
  if (running_) return false;
  running_ = true;
  return true;
}

bool eval_schedule::evaluated() {
  running_ = false;
  owed_since_ = waiting_;
  waiting_.reset();
  if (!owed_since_) return false;
  running_ = true;
  return true;
}

void eval_schedule::retry_later() {
  running_ = false;
}

bool eval_schedule::hold(std::uint64_t total) const {
  // Only while one runs: a failed one (blocks missing from the store) needs
  // the replicas to train on, which restores the blocks.
  return running_ && owed_since_ && total >= *owed_since_ + period_;
}

}  // namespace emnist
