// The jobs of one process on one long-lived actor system: a train call of
// `emnist serve` and a whole `emnist simulate` are both a job started
// here. Starting returns at once; the result comes to a callback.
//
//   job_runner runner(0);                       // one scheduler thread a core
//   auto id = runner.start(cfg, data, options, on_progress,
//                          [](expected<simulation_result> r) { ... });
//   runner.stop(id);        // cancellation: push, save, then `done`
//
// Preparing a job (its store, its records in the store) blocks on the
// store: it runs on a small pool of the runner's own, never on the
// caller's thread or a scheduler thread. A job's memcached store is shared
// by every job of this runner on the same job name and options while any
// of them runs, so the replicas of one process share its writes (see the
// memcached store's write-back).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "jobs/simulation.hpp"
#include "model/mlp.hpp"

namespace caf {
class actor_system;
class actor_system_config;
}  // namespace caf

namespace boost::asio {
class thread_pool;
}

namespace emnist {

struct job_store;

class job_runner {
 public:
  using job_id = std::uint64_t;
  using done_callback = std::function<void(expected<simulation_result>)>;

  /// `scheduler_threads`: the actor system's threads, 0 for one per core.
  explicit job_runner(std::size_t scheduler_threads);
  /// Stops every job and waits for their `done`.
  ~job_runner();
  job_runner(const job_runner&) = delete;
  job_runner& operator=(const job_runner&) = delete;

  /// Starts the replicas `options.ids` of the job `cfg` describes. `done`
  /// runs exactly once, on a thread of the runner (it may block: the
  /// runner's pool has other threads), with the result or the error;
  /// `progress` runs on a scheduler thread, one report after the other.
  job_id start(job_config cfg, std::shared_ptr<const job_data> data,
               replicas_options options, progress_callback progress,
               done_callback done);

  /// Cancellation: the job's replicas stop, push what is pending and save
  /// their progress; its `done` follows (result.interrupted). A job that
  /// is still being prepared stops as soon as it starts.
  void stop(job_id id);
  /// stop() for every job, and every job started from now on.
  void stop_all();

  /// Jobs whose `done` has not returned yet.
  std::size_t running() const;
  /// Blocks until no job runs, up to `deadline`; false on timeout.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);

 private:
  struct job;
  void prepare(std::shared_ptr<job> j);
  /// Claims the slots of `ids` (or the first options.any_free of them
  /// that are free): all or none.
  expected<void> claim_replicas(const std::shared_ptr<job>& j,
                                const std::vector<std::uint32_t>& ids);
  void release_claims(const std::shared_ptr<job>& j);
  void finish(const std::shared_ptr<job>& j,
              expected<simulation_result> result);
  void finish_later(std::shared_ptr<job> j, expected<simulation_result> result);
  expected<std::shared_ptr<job_store>> store_for(const job_config& cfg,
                                                 const mlp_shape& shape);

  std::unique_ptr<caf::actor_system_config> system_config_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<boost::asio::thread_pool> pool_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  job_id next_id_ = 1;
  bool stopping_all_ = false;
  std::map<job_id, std::shared_ptr<job>> jobs_;
  /// Memcached stores by job and options, while a job uses them.
  std::map<std::string, std::weak_ptr<job_store>> stores_;
};

}  // namespace emnist
