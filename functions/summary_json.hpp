// The JSON summary of a run of replicas: what `emnist simulate --json`
// prints and what a train function answers.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "actors/job_result.hpp"

namespace emnist {

/// One JSON object: reached, accuracy, seconds_to_target, seconds,
/// load_seconds, replicas, samples, samples_per_second, evaluations, store,
/// workers [{id, iterations, samples, seconds}], pushes, pushes_applied,
/// fetches, bytes_sent, bytes_received, sync_wait_seconds, history
/// [{steps, requested, finished, accuracy}] (one entry per evaluation).
boost::json::object summary_object(const simulation_result& r);
std::string summary_json(const simulation_result& r);

}  // namespace emnist
