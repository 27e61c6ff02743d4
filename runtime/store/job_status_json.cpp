// job_status to JSON with Boost.JSON.
#include "runtime/store/job_status_json.hpp"

#include <boost/json.hpp>

#include "runtime/net/json_text.hpp"

namespace emnist {
namespace {

/// Accuracies are -1 until a first evaluation: JSON null then.
boost::json::value accuracy_value(double a) {
  if (a < 0) return nullptr;
  return a;
}

/// A metadata value as JSON: quoted text, or a number.
boost::json::value setting_value(const std::string& v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
    return boost::json::string(v.substr(1, v.size() - 2));
  }
  boost::system::error_code ec;
  auto parsed = boost::json::parse(v, ec);
  if (!ec && parsed.is_number()) return parsed;
  return boost::json::string(v);
}

}  // namespace

std::string job_status_json(const std::string& job, const job_status& s,
                            std::int64_t now_ms) {
  boost::json::object o;
  o["job"] = job;
  o["hash"] = s.meta.hash;
  o["replicas"] = s.replicas;
  boost::json::object settings;
  for (const auto& [k, v] : s.meta.entries) {
    settings[k] = setting_value(v);
    if (k == "train.target_accuracy") o["target_accuracy"] = setting_value(v);
  }
  for (const auto& [k, v] : s.meta.inherited) settings[k] = setting_value(v);
  o["best_accuracy"] = accuracy_value(s.best_accuracy);
  o["reached"] = s.reached;
  o["settings"] = std::move(settings);
  boost::json::array workers;
  for (const auto& r : s.records) {
    if (!r) {
      workers.emplace_back(nullptr);
      continue;
    }
    boost::json::object w;
    w["replica"] = r->id;
    w["epochs"] = r->epochs;
    w["steps"] = r->steps;
    w["samples"] = r->samples;
    w["accuracy"] = accuracy_value(r->accuracy);
    w["best_accuracy"] = accuracy_value(r->best_accuracy);
    w["heartbeat_age_seconds"] =
        static_cast<double>(now_ms - r->heartbeat_ms) / 1000.0;
    w["done"] = r->done;
    w["reached"] = r->reached;
    w["stop"] = r->stop.empty() ? boost::json::value(nullptr)
                                : boost::json::value(r->stop);
    if (!r->error.empty()) w["error"] = r->error;
    workers.emplace_back(std::move(w));
  }
  o["workers"] = std::move(workers);
  return readable_json(o);
}

}  // namespace emnist
