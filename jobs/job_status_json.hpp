// A job's status as JSON, read from the store alone: what `emnist status
// --json` prints and what the HTTP status route answers.
//
//   auto s = read_job_status(*store, "j1");
//   if (s) std::cout << job_status_json("j1", *s, now_ms) << "\n";
//
// {"job", "hash", "replicas", "target_accuracy", "best_accuracy" (null
//  before the first evaluation), "reached", "settings": {key: value},
//  "workers": [{"replica", "epochs", "steps", "samples", "accuracy",
//  "best_accuracy", "heartbeat_age_seconds", "done", "reached"} or null
//  for a replica with no progress yet]}
#pragma once

#include <cstdint>
#include <string>

#include "jobs/job_lifecycle.hpp"

namespace emnist {

/// `now_ms`: the Unix time in milliseconds that heartbeat ages count from.
[[nodiscard]] std::string job_status_json(const std::string& job,
                                          const job_status& status,
                                          std::int64_t now_ms);

}  // namespace emnist
