// The evaluations the status route has seen, per job and replica, for the
// live page's chart (GET /status?job=J&history=1). Replica records hold the
// latest accuracy only; each fresh read of a job's records adds a point
// where a replica's accuracy changed. A short history: the last 600 points
// of a replica, the last 16 jobs.
#pragma once

#include <boost/json/array.hpp>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "jobs/job_lifecycle.hpp"

namespace emnist {

class status_history {
 public:
  /// Notes what a fresh read of `job`'s status says.
  void note(const std::string& job, const job_status& s);
  /// One array per replica of [unix_ms, accuracy, samples] points, oldest
  /// first.
  boost::json::array of(const std::string& job) const;

 private:
  struct point {
    std::int64_t unix_ms = 0;
    double accuracy = -1;
    std::uint64_t samples = 0;
  };
  static constexpr std::size_t max_points = 600;
  static constexpr std::size_t max_jobs = 16;
  mutable std::mutex mutex_;
  std::map<std::string, std::vector<std::deque<point>>> jobs_;
};

}  // namespace emnist
