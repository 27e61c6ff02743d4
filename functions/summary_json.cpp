// Boost.JSON serialisation of the simulation result.
#include "functions/summary_json.hpp"

#include <boost/json.hpp>

#include "runtime/net/json_text.hpp"

namespace emnist {

boost::json::object summary_object(const simulation_result& r) {
  namespace json = boost::json;
  json::array workers;
  for (const auto& w : r.workers) {
    workers.push_back(json::object{{"id", w.id},
                                   {"iterations", w.iterations},
                                   {"samples", w.samples},
                                   {"seconds", w.seconds},
                                   {"sync_wait_seconds", w.sync_wait_seconds},
                                   {"eval_wait_seconds", w.eval_wait_seconds}});
  }
  json::array history;
  for (const auto& e : r.history) {
    history.push_back(json::object{{"steps", e.steps},
                                   {"requested", e.requested},
                                   {"finished", e.finished},
                                   {"accuracy", e.accuracy}});
  }
  json::object o;
  o["reached"] = r.reached;
  o["stop_reason"] = r.stop_reason;
  o["accuracy"] = r.accuracy;
  o["seconds_to_target"] = r.seconds_to_target
                               ? json::value(*r.seconds_to_target)
                               : json::value(nullptr);
  o["samples_to_target"] = r.samples_to_target
                               ? json::value(*r.samples_to_target)
                               : json::value(nullptr);
  o["seconds"] = r.seconds;
  o["load_seconds"] = r.load_seconds;
  o["replicas"] = r.replicas;
  o["samples"] = r.samples;
  o["samples_per_second"] = r.samples_per_second;
  o["evaluations"] = r.evaluations;
  o["store"] = r.store;
  o["resumed"] = r.resumed;
  o["budget_spent"] = r.budget_spent;
  o["interrupted"] = r.interrupted;
  o["workers"] = std::move(workers);
  o["pushes"] = r.sync.pushes;
  o["pushes_applied"] = r.sync.pushes_applied;
  o["cas_retries"] = r.sync.cas_retries;
  o["blocks_restored"] = r.sync.blocks_restored;
  o["push_reads_skipped"] = r.sync.push_reads_skipped;
  o["push_blocks_combined"] = r.sync.push_blocks_combined;
  o["pushes_held"] = r.sync.pushes_held;
  o["fetches_local"] = r.sync.fetches_local;
  o["views_checked"] = r.sync.views_checked;
  o["views_refreshed"] = r.sync.views_refreshed;
  o["server_retries"] = r.sync.server_retries;
  o["fetches"] = r.sync.fetches;
  o["fetches_not_modified"] = r.sync.fetches_not_modified;
  o["servers_failed_over"] = r.sync.servers_failed_over;
  o["bytes_sent"] = r.sync.bytes_sent;
  o["bytes_received"] = r.sync.bytes_received;
  o["sync_wait_seconds"] = r.sync_wait_seconds;
  o["eval_wait_seconds"] = r.eval_wait_seconds;
  o["history"] = std::move(history);
  return o;
}

std::string summary_json(const simulation_result& r) {
  return readable_json(summary_object(r));
}

}  // namespace emnist
