// The jobs of one deployment's store, as emnist-setup and emnist-train see
// them: creating one (or replacing it, when asked), reading its settings,
// its status and its model. One per process; blocking calls (run them on
// a pool thread), thread-safe.
//
//   job_registry jobs(process_config);            // where the store is
//   auto made = jobs.create(cfg, shape, initial, /*replace=*/false);
//   if (!made) reply(409, made.error().message);  // "job 'j1' exists: ..."
//   auto s = jobs.status("j1");                    // cached for 20 ms
//
// Where the store is, how long to wait for it and every other deployment
// key come from the process's configuration, never from a request:
// cfg.sync.job is the only store setting a request's job names.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "jobs/job_lifecycle.hpp"
#include "jobs/job_model.hpp"
#include "runtime/config/config.hpp"

namespace emnist {

class job_registry {
 public:
  explicit job_registry(job_config deployment);

  /// Sets job cfg.sync.job up in the deployment's store (cfg's deployment
  /// keys are the process's): refused (aborted) when the name is taken,
  /// unless `replace`: then a running job is stopped first.
  [[nodiscard]] expected<job_metadata> create(const job_config& cfg,
                                              const mlp_shape& shape,
                                              std::span<const float> initial,
                                              bool replace);

  /// The job's status from the store; reads within `max_age` of an earlier
  /// one share it (pollers of one job cost one read). not_found when there
  /// is no such job.
  [[nodiscard]] expected<job_status> status(
      const std::string& job,
      std::chrono::milliseconds max_age = std::chrono::milliseconds(20));

  /// The job's stored settings that are keys of the configuration, as
  /// "key=value" overrides (how it trains first, then what defines it).
  [[nodiscard]] static std::vector<std::string> settings_of(
      const job_status& s);

  /// The job's current parameters as a model.
  [[nodiscard]] expected<job_model> model(const std::string& job) const;

  /// The records of `job` (connections kept for a few jobs).
  [[nodiscard]] expected<std::shared_ptr<record_store>> records(
      const std::string& job);

  /// The deployment's configuration with `job` named.
  [[nodiscard]] job_config config_of(const std::string& job) const;

 private:
  job_config deployment_;
  std::mutex mutex_;
  /// Record stores of the jobs read lately (a poller of many jobs
  /// reconnects).
  std::map<std::string, std::shared_ptr<record_store>> stores_;
  struct cached_status {
    std::chrono::steady_clock::time_point read_at;
    job_status status;
  };
  std::map<std::string, cached_status> cache_;
};

}  // namespace emnist
