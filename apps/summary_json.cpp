// Boost.JSON serialisation of the simulation result.
#include "apps/summary_json.hpp"

#include <boost/json.hpp>

namespace emnist::cli {

std::string summary_json(const simulation_result& r) {
  namespace json = boost::json;
  json::array workers;
  for (const auto& w : r.workers) {
    workers.push_back(json::object{{"id", w.id},
                                   {"iterations", w.iterations},
                                   {"samples", w.samples},
                                   {"seconds", w.seconds},
                                   {"sync_wait_seconds", w.sync_wait_seconds}});
  }
  json::object o;
  o["reached"] = r.reached;
  o["accuracy"] = r.accuracy;
  o["seconds_to_target"] = r.seconds_to_target
                               ? json::value(*r.seconds_to_target)
                               : json::value(nullptr);
  o["seconds"] = r.seconds;
  o["load_seconds"] = r.load_seconds;
  o["replicas"] = r.replicas;
  o["samples"] = r.samples;
  o["samples_per_second"] = r.samples_per_second;
  o["evaluations"] = r.evaluations;
  o["store"] = r.store;
  o["workers"] = std::move(workers);
  o["pushes"] = r.sync.pushes;
  o["pushes_applied"] = r.sync.pushes_applied;
  o["fetches"] = r.sync.fetches;
  o["bytes_sent"] = r.sync.bytes_sent;
  o["bytes_received"] = r.sync.bytes_received;
  o["sync_wait_seconds"] = r.sync_wait_seconds;
  return json::serialize(o);
}

}  // namespace emnist::cli
