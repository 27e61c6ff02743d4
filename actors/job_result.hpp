// What a job's coordinator reports: progress while it runs, and its
// result when it ends (jobs/simulation.hpp runs jobs; these are the types
// the actors fill in).
//
//   [](const progress_report& p) { draw(p); }     // about twice a second
//   if (result.reached) print(*result.seconds_to_target);
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "base/expected.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

/// One evaluation of the job: when it was asked for and when it ended.
struct evaluation_record {
  std::uint64_t steps = 0;  ///< minibatches of the job when asked for
  double requested = 0;     ///< seconds since training started
  double finished = 0;
  double accuracy = 0;
};

struct replica_progress {
  std::uint32_t id = 0;
  std::uint64_t epoch = 0;  ///< completed passes
  std::uint64_t samples = 0;
  double samples_per_second = 0;  ///< over the last progress interval
  bool done = false;
};

/// What the coordinator reports while the job runs.
struct progress_report {
  double seconds = 0;  ///< since training started
  std::vector<replica_progress> replicas;
  std::optional<double> last_accuracy;
  std::uint64_t evaluations = 0;
};

struct simulation_result {
  bool reached = false;
  double accuracy = 0;                      ///< last evaluation
  std::optional<double> seconds_to_target;  ///< first step -> reaching eval
  /// Samples the job had trained when the evaluation that reached the
  /// target was asked for (those its parameters had seen).
  std::optional<std::uint64_t> samples_to_target;
  double seconds = 0;  ///< the whole training
  double load_seconds = 0;
  std::uint32_t replicas = 0;
  std::uint64_t samples = 0;
  double samples_per_second = 0;
  std::uint64_t evaluations = 0;
  std::string store;
  std::vector<worker_summary> workers;
  store_stats sync;
  double sync_wait_seconds = 0;  ///< summed over the replicas
  double eval_wait_seconds = 0;  ///< summed over the replicas
  std::vector<evaluation_record> history;
  std::vector<float> final_parameters;  ///< the store's, at the end
  bool resumed = false;                 ///< started from stored progress
  bool budget_spent = false;            ///< stopped by train.max_seconds
  bool interrupted = false;             ///< stopped by job_runner::stop
  /// Why the job ended: "target", "max_epochs" (every replica did its
  /// passes), "max_seconds" (train.max_seconds) or "interrupted".
  std::string stop_reason;
};

using progress_callback = std::function<void(const progress_report&)>;

}  // namespace emnist
