// A whole job in this process: N replicas on one parameter store, run by a
// coordinator until the target accuracy or the epoch limit. This is what
// `emnist simulate` and the end-to-end tests call; a process that runs
// several jobs, or stops them, uses a job_runner (jobs/job_runner.hpp).
//
//   auto data = load_job_data(request);
//   auto result = run_simulation(cfg, *data, [](const progress_report& p) {
//     draw(p);   // called on a thread of the runner, about twice a second
//   });
#pragma once

#include <cstdint>
#include <vector>

#include "actors/job_result.hpp"
#include "base/expected.hpp"
#include "model/data_files.hpp"
#include "runtime/config/config.hpp"

namespace emnist {

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
  /// Not 0: run this many of `ids` (of all, when empty), the first whose
  /// slots are free; others are passed over (a train call without
  /// worker_id).
  std::size_t any_free = 0;
  /// Create (or join) the job and train nothing.
  bool prepare_only = false;
};

/// run_simulation for some replicas of a job: they train on their own
/// shards, evaluate the store's parameters and stop at the target, the
/// epoch limit or train.max_seconds. (A process that runs several jobs,
/// or stops them, uses a job_runner: jobs/job_runner.hpp.)
[[nodiscard]] expected<simulation_result> run_replicas(
    const job_config& cfg, const job_data& data,
    const replicas_options& options, const progress_callback& on_progress = {});

}  // namespace emnist
