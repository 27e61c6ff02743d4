#include "functions/status_history.hpp"

#include <algorithm>
#include <boost/json.hpp>

namespace emnist {

void status_history::note(const std::string& job, const job_status& s) {
  std::lock_guard lock(mutex_);
  auto it = jobs_.find(job);
  if (it == jobs_.end()) {
    if (jobs_.size() >= max_jobs) {
      // The job looked at longest ago makes room; the others keep their
      // charts (clearing them all blanked every open page).
      jobs_.erase(std::min_element(
          jobs_.begin(), jobs_.end(), [](const auto& a, const auto& b) {
            return a.second.looked_at < b.second.looked_at;
          }));
    }
    it = jobs_.emplace(job, job_points{}).first;
  }
  it->second.looked_at = ++looks_;
  auto& replicas = it->second.replicas;
  replicas.resize(std::max(replicas.size(), s.records.size()));
  for (std::size_t i = 0; i < s.records.size(); ++i) {
    const auto& r = s.records[i];
    if (!r || r->accuracy < 0) continue;  // not evaluated yet
    auto& points = replicas[i];
    // The same accuracy: still the same evaluation, trained on since.
    if (!points.empty() && points.back().accuracy == r->accuracy) continue;
    points.push_back({r->heartbeat_ms, r->accuracy, r->samples});
    if (points.size() > max_points) points.pop_front();
  }
}

boost::json::array status_history::of(const std::string& job) const {
  std::lock_guard lock(mutex_);
  boost::json::array out;
  auto it = jobs_.find(job);
  if (it == jobs_.end()) return out;
  it->second.looked_at = ++looks_;
  for (const auto& points : it->second.replicas) {
    boost::json::array line;
    for (const auto& p : points) {
      line.push_back(boost::json::array{p.unix_ms, p.accuracy, p.samples});
    }
    out.push_back(std::move(line));
  }
  return out;
}

}  // namespace emnist
