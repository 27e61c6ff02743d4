// The counters and gauges of a function process, in the Prometheus text
// format (GET /metrics). Thread-safe: the HTTP thread counts requests, the
// training threads report progress.
//
// A replica's series (job and replica labels) live while it trains and
// for series_ttl after its last report, so that scrapes see its final
// values; then they go. At most max_series are kept (the ones updated
// longest ago go first). A long-lived pod that has trained thousands of
// jobs thus serves a page as short as one that trained a few: the
// per-job series were never dropped before, and grew without bound.
//
//   function_metrics m;
//   m.count_request("/status", 200);
//   m.set_replica("j1", 0, samples, accuracy);
//   std::string text = m.render(in_flight);
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "runtime/store/parameter_store.hpp"

namespace emnist {

class function_metrics {
 public:
  using clock = std::chrono::steady_clock;
  /// How long a replica's series outlive its last report: several scrapes
  /// at any usual interval (15 s to 1 min).
  static constexpr auto series_ttl = std::chrono::minutes(10);
  /// The most replica series kept at once.
  static constexpr std::size_t max_series = 256;

  void count_request(const std::string& route, int status);
  /// A replica's progress: the samples it has trained (resumed runs
  /// included) and the job's last accuracy (negative: none yet).
  void set_replica(const std::string& job, std::uint32_t replica,
                   std::uint64_t samples, double accuracy,
                   clock::time_point now = clock::now());
  /// A finished run's store counters and compute's waiting time.
  void add_run(const store_stats& sync, double sync_wait_seconds);

  [[nodiscard]] std::string render(std::size_t in_flight,
                                   clock::time_point now = clock::now()) const;

 private:
  struct replica_gauges {
    std::uint64_t samples = 0;
    double accuracy = -1;
    clock::time_point updated;
  };
  /// Drops the series past series_ttl, then the oldest past max_series.
  void expire(clock::time_point now) const;

  mutable std::mutex mutex_;
  std::map<std::pair<std::string, int>, std::uint64_t> requests_;
  mutable std::map<std::pair<std::string, std::uint32_t>, replica_gauges>
      replicas_;
  std::uint64_t pushes_ = 0, pushes_applied_ = 0, cas_retries_ = 0;
  std::uint64_t fetches_ = 0, bytes_sent_ = 0, bytes_received_ = 0;
  double sync_wait_seconds_ = 0;
};

}  // namespace emnist
