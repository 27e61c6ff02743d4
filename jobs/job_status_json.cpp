// job_status to JSON with Boost.JSON.
#include "jobs/job_status_json.hpp"

#include <boost/json.hpp>
#include <cstdio>

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

/// A replica not started this long after its call is shown as waiting.
constexpr std::int64_t start_grace_ms = 3000;

std::string seconds_ago(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  return buf;
}

/// Why replica `id` trains not, when it should: the driver's last word
/// on its call, or a call long unanswered. Empty: it trains, is done, or
/// nobody calls it.
std::string waiting_reason(const job_status& s, std::uint32_t id,
                           std::int64_t now_ms) {
  const auto& r = id < s.records.size() ? s.records[id] : std::nullopt;
  if (r && !r->done && now_ms - r->heartbeat_ms < abandoned_after_ms) {
    return {};  // it trains
  }
  if (!s.driver || id >= s.driver->slots.size()) return {};
  const auto& n = s.driver->slots[id];
  if (n.state == "waiting") return n.reason;
  if (n.state == "calling" && now_ms - n.since_ms > start_grace_ms) {
    return "called " + seconds_ago(now_ms - n.since_ms) + " ago (call " +
           std::to_string(n.calls) +
           "), no heartbeat yet: its pod may be starting, or the gateway "
           "holds the call";
  }
  return {};
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
  o["state"] = job_state_of(s, now_ms);
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
    if (!r->holder.empty()) w["holder"] = r->holder;
    if (r->reached_at_ms != 0) w["reached_at_ms"] = r->reached_at_ms;
    workers.emplace_back(std::move(w));
  }
  o["workers"] = std::move(workers);
  // The replicas that should train and do not, and why.
  boost::json::array waiting;
  for (std::uint32_t id = 0; id < s.replicas; ++id) {
    auto why = waiting_reason(s, id, now_ms);
    if (!why.empty()) {
      waiting.push_back(boost::json::object{{"replica", id}, {"reason", why}});
    }
  }
  o["waiting"] = std::move(waiting);
  if (s.driver) {
    boost::json::array calls;
    for (const auto& n : s.driver->slots) {
      calls.push_back(boost::json::object{
          {"state", n.state},
          {"reason", n.reason},
          {"since_seconds", static_cast<double>(now_ms - n.since_ms) / 1000.0},
          {"calls", n.calls}});
    }
    o["driver"] = boost::json::object{
        {"host", s.driver->host},
        {"heartbeat_age_seconds",
         static_cast<double>(now_ms - s.driver->heartbeat_ms) / 1000.0},
        {"calls", std::move(calls)}};
  }
  return readable_json(o);
}

}  // namespace emnist
