// One replica's progress: what its coordinator saves while it trains (the
// store's records keep it, in the format of jobs/job_records.hpp) and what
// a replica that resumes starts from. Plain data: the actors know no
// record format.
#pragma once

#include <cstdint>
#include <string>

namespace emnist {

/// One replica's progress.
struct replica_record {
  std::uint32_t id = 0;
  std::uint64_t epochs = 0;       ///< completed passes over its shard
  std::uint64_t steps = 0;        ///< minibatches trained
  std::uint64_t samples = 0;      ///< samples trained
  double accuracy = -1;           ///< the job's last evaluation; -1: none yet
  double best_accuracy = -1;      ///< the best evaluation it has seen
  std::int64_t heartbeat_ms = 0;  ///< Unix time of the write, milliseconds
  bool done = false;              ///< finished (target, epochs or stop)
  bool reached = false;           ///< the target accuracy was reached
  /// In the process whose evaluation reached the target: Unix ms when that
  /// evaluation was asked for (the samples of every replica then are the
  /// job's samples to target); 0 elsewhere.
  std::int64_t reached_at_ms = 0;
  /// Why it stopped, once done: "target", "max_epochs", "max_seconds",
  /// "interrupted" or "failed"; empty while it runs.
  std::string stop;
  /// With stop = "failed": the error that ended it (at most ~500 bytes).
  std::string error;
  /// The call that holds the replica's slot (host, process, call): set by
  /// whoever saves the record, never by the actors.
  std::string holder;
};

}  // namespace emnist
