// The evaluations the status route has seen, per job and replica, for the
// live page's chart (GET /status?job=J&history=1). Replica records hold the
// latest accuracy only; each fresh read of a job's records adds a point
// where a replica's accuracy changed. A short history: the last 600 points
// of a replica, the 16 jobs looked at last (a 17th drops the one looked
// at longest ago, and only that one).
#pragma once

#include <boost/json/array.hpp>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "jobs/job_lifecycle.hpp"

namespace emnist {

class status_history {
 public:
  static constexpr std::size_t max_points = 600;
  static constexpr std::size_t max_jobs = 16;

  /// Notes what a fresh read of `job`'s status says.
  void note(const std::string& job, const job_status& s);
  /// One array per replica of [unix_ms, accuracy, samples] points, oldest
  /// first. Counts as looking at the job.
  boost::json::array of(const std::string& job) const;

 private:
  struct point {
    std::int64_t unix_ms = 0;
    double accuracy = -1;
    std::uint64_t samples = 0;
  };
  struct job_points {
    std::vector<std::deque<point>> replicas;
    std::uint64_t looked_at = 0;  ///< when, on looks_'s count
  };
  mutable std::mutex mutex_;
  mutable std::uint64_t looks_ = 0;
  mutable std::map<std::string, job_points> jobs_;
};

}  // namespace emnist
