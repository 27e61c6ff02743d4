// A whole job in this process: N replicas on one parameter store, run by a
// coordinator until the target accuracy or the epoch limit. This is what
// `emnist simulate` and the end-to-end tests call.
//
//   auto data = load_job_data(request);
//   auto result = run_simulation(cfg, *data, [](const progress_report& p) {
//     draw(p);   // called on the calling thread, about twice a second
//   });
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "base/expected.hpp"
#include "model/data_files.hpp"
#include "runtime/config/config.hpp"
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

/// How a simulation treats the job named sync.job in the store.
enum class job_start {
  create,  ///< set it up afresh: initial parameters, metadata, no progress
  resume,  ///< go on from the stored parameters and each replica's stored
           ///< progress; refused when the job's settings differ
};

/// Runs the job to its end. Blocks the calling thread (which must not be
/// an actor's); the actors run on their own scheduler threads.
[[nodiscard]] expected<simulation_result> run_simulation(
    const job_config& cfg, const job_data& data,
    const progress_callback& on_progress = {},
    job_start start = job_start::create);

/// What a process runs of a job that may span several processes (one
/// OpenFaaS train invocation runs one replica).
struct replicas_options {
  job_start start = job_start::resume;
  /// The replicas to run here, of train.replicas; empty: all of them.
  std::vector<std::uint32_t> ids;
  /// Create (or join) the job and train nothing.
  bool prepare_only = false;
};

/// run_simulation for some replicas of a job: they train on their own
/// shards, evaluate the store's parameters and stop at the target, the
/// epoch limit or train.max_seconds. (A process that runs several jobs,
/// or stops them, uses a job_runner: actors/job_runner.hpp.)
[[nodiscard]] expected<simulation_result> run_replicas(
    const job_config& cfg, const job_data& data,
    const replicas_options& options, const progress_callback& on_progress = {});

}  // namespace emnist
