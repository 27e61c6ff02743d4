// When a job evaluates, and when its replicas must wait for an evaluation:
// the coordinator's schedule, apart from the actor. Pure (no messages, no
// clocks): the coordinator feeds it the job's step count, and the tests
// drive it step by step.
//
//   eval_schedule s(period, start_steps);
//   if (s.progress(total_steps)) ask_evaluator();  // due: evaluate now
//   if (s.hold(total_steps)) hold_replicas();      // a whole period late
//   if (s.evaluated()) ask_evaluator();            // another one was due
//   if (!s.hold(total_steps)) resume_replicas();
//
// Evaluations are due every `period` steps of the whole job (all replicas
// together), counted by the steps trained, whatever the replicas' speed.
// One runs at a time; one that falls due meanwhile runs when it ends. The
// replicas never train more than one period past a due evaluation that has
// not ended: they hold until it does. Without that hold, an evaluator
// starved of CPU let a job train 20 passes on with 2 evaluations, and a job
// whose only evaluations were due at the end of its passes finished with no
// accuracy at all.
//
//   due d:      |--- period ---|--- period ---|
//   steps:      d              d + period: replicas hold while d's
//                                          evaluation has not ended
#pragma once

#include <cstdint>
#include <optional>

namespace emnist {

class eval_schedule {
 public:
  /// Due every `period` steps (at least 1), the first at start + period.
  eval_schedule(std::uint64_t period, std::uint64_t start_steps);

  /// The job has trained `total` steps. True: an evaluation is due and none
  /// runs, so the caller starts one now (it counts as running).
  [[nodiscard]] bool progress(std::uint64_t total);

  /// Starts an evaluation outside the schedule (the job's final one);
  /// false while one runs. It counts as running.
  [[nodiscard]] bool start_extra();

  /// The running evaluation ended. True: another fell due meanwhile and the
  /// caller starts it now (it counts as running).
  [[nodiscard]] bool evaluated();

  /// The running evaluation failed and will be asked for again at the next
  /// progress() (the due point it served stays owed).
  void retry_later();

  /// Replicas must wait: the oldest evaluation owed was due a whole period
  /// before `total` and is running. (A failed one does not hold them: they
  /// restore the blocks it missed by training on.)
  [[nodiscard]] bool hold(std::uint64_t total) const;

  [[nodiscard]] bool running() const { return running_; }
  [[nodiscard]] std::uint64_t period() const { return period_; }
  /// The due point of the oldest evaluation owed, if any.
  [[nodiscard]] std::optional<std::uint64_t> owed_since() const {
    return owed_since_;
  }

 private:
  std::uint64_t period_;
  std::uint64_t next_due_;
  bool running_ = false;
  /// Due points not yet served: the one the running evaluation serves (or
  /// a failed one) and the first one that fell due while it ran.
  std::optional<std::uint64_t> owed_since_;
  std::optional<std::uint64_t> waiting_;
};

}  // namespace emnist
