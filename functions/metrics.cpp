// Prometheus text exposition of the function metrics.
#include "functions/metrics.hpp"

#include <algorithm>
#include <cstdio>

namespace emnist {
namespace {

/// A label value with \, " and newlines escaped.
std::string label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void family(std::string& out, const char* name, const char* type,
            const char* help) {
  out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " +
         type + "\n";
}

}  // namespace

void function_metrics::count_request(const std::string& route, int status) {
  std::lock_guard guard(mutex_);
  ++requests_[{route, status}];
}

void function_metrics::set_replica(const std::string& job,
                                   std::uint32_t replica, std::uint64_t samples,
                                   double accuracy, clock::time_point now) {
  std::lock_guard guard(mutex_);
  auto& r = replicas_[{job, replica}];
  r.samples = samples;
  if (accuracy >= 0) r.accuracy = accuracy;
  r.updated = std::max(r.updated, now);
  expire(now);
}

void function_metrics::expire(clock::time_point now) const {
  std::erase_if(replicas_, [&](const auto& entry) {
    return now - entry.second.updated > series_ttl;
  });
  while (replicas_.size() > max_series) {
    replicas_.erase(std::min_element(
        replicas_.begin(), replicas_.end(), [](const auto& a, const auto& b) {
          return a.second.updated < b.second.updated;
        }));
  }
}

void function_metrics::add_run(const store_stats& sync,
                               double sync_wait_seconds) {
  std::lock_guard guard(mutex_);
  pushes_ += sync.pushes;
  pushes_applied_ += sync.pushes_applied;
  cas_retries_ += sync.cas_retries;
  fetches_ += sync.fetches;
  bytes_sent_ += sync.bytes_sent;
  bytes_received_ += sync.bytes_received;
  sync_wait_seconds_ += sync_wait_seconds;
}

std::string function_metrics::render(std::size_t in_flight,
                                     clock::time_point now) const {
  std::lock_guard guard(mutex_);
  expire(now);
  std::string out;
  family(out, "emnist_http_requests_total", "counter",
         "HTTP requests answered, by route and status code");
  for (const auto& [key, n] : requests_) {
    out += "emnist_http_requests_total{route=\"" + label(key.first) +
           "\",code=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(n) + "\n";
  }
  family(out, "emnist_http_in_flight", "gauge", "requests being handled");
  out += "emnist_http_in_flight " + std::to_string(in_flight) + "\n";
  family(out, "emnist_training_samples_total", "counter",
         "samples trained by the replicas of this process (a replica's "
         "series ends 10 minutes after its last report)");
  for (const auto& [key, r] : replicas_) {
    out += "emnist_training_samples_total{job=\"" + label(key.first) +
           "\",replica=\"" + std::to_string(key.second) + "\"} " +
           std::to_string(r.samples) + "\n";
  }
  family(out, "emnist_accuracy", "gauge",
         "the job's last evaluated accuracy, as each replica saw it");
  for (const auto& [key, r] : replicas_) {
    if (r.accuracy < 0) continue;
    out += "emnist_accuracy{job=\"" + label(key.first) + "\",replica=\"" +
           std::to_string(key.second) + "\"} " + number(r.accuracy) + "\n";
  }
  family(out, "emnist_pushes_total", "counter", "deltas pushed to the store");
  out += "emnist_pushes_total " + std::to_string(pushes_) + "\n";
  family(out, "emnist_pushes_applied_total", "counter",
         "pushes whose every block was added");
  out +=
      "emnist_pushes_applied_total " + std::to_string(pushes_applied_) + "\n";
  family(out, "emnist_cas_retries_total", "counter",
         "memcached compare-and-swap conflicts retried");
  out += "emnist_cas_retries_total " + std::to_string(cas_retries_) + "\n";
  family(out, "emnist_fetches_total", "counter", "parameter fetches");
  out += "emnist_fetches_total " + std::to_string(fetches_) + "\n";
  family(out, "emnist_store_bytes_total", "counter",
         "bytes to (sent) and from (received) the store");
  out += "emnist_store_bytes_total{direction=\"sent\"} " +
         std::to_string(bytes_sent_) + "\n";
  out += "emnist_store_bytes_total{direction=\"received\"} " +
         std::to_string(bytes_received_) + "\n";
  family(out, "emnist_sync_wait_seconds_total", "counter",
         "time compute waited for the store");
  out += "emnist_sync_wait_seconds_total " + number(sync_wait_seconds_) + "\n";
  return out;
}

}  // namespace emnist
