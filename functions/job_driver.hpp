// emnist-setup's calls of a job's replicas. Each replica gets one
// synchronous call of emnist-train through the gateway
//   POST {gateway}/function/emnist-train?job=J&worker_id=i&job_id=ID
// held while the replica trains, and made again at once when it returns
// with its time budget spent (train.max_seconds), until the replica is done
// (the target reached, or its passes done), the job is replaced, or the
// call is refused for good.
//
//   job_driver driver({gateway_url, token}, records_of_job);
//   driver.drive("j1", meta.id, 4);      // returns at once
//   ...
//   driver.stop();                       // shutdown: no new calls
//
// Why synchronous calls: the gateway runs them at once and spreads them
// over the function's pods, on every OpenFaaS. An asynchronous call goes
// through the queue-worker, and OpenFaaS CE's runs one at a time: a job's
// replicas then trained one after another, each waiting for the one
// before to spend its time budget (docs/deploy.md).
//
// A call that cannot start its replica (the gateway or the function at
// capacity: 429; a pod not there: 502, 503; the replica still running in
// an earlier call: 409) is made again after a pause that doubles up to
// 10 s, and the replica shows as waiting, with the reason, in the job's
// status (the "driver" record). Nothing blocks: the calls are coroutines
// on one thread of the driver's own.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "jobs/job_records.hpp"
#include "runtime/store/record_store.hpp"

namespace emnist {

class job_driver {
 public:
  struct options {
    std::string gateway_url;  ///< http.gateway_url
    std::string token;        ///< sent as a bearer token; empty: none
    /// A call that has not answered in this long is given up and made
    /// again (the gateway and the function's own timeouts come first).
    std::chrono::milliseconds call_timeout = std::chrono::hours(24);
    /// The longest pause before a call is made again.
    std::chrono::milliseconds max_pause = std::chrono::seconds(10);
  };
  /// The records of a job, where the driver's notes go.
  using records_of = std::function<expected<std::shared_ptr<record_store>>(
      const std::string&)>;

  job_driver(options o, records_of records);
  /// stop(), then the calls under way are dropped (their replicas run to
  /// their time budget and save their progress).
  ~job_driver();
  job_driver(const job_driver&) = delete;
  job_driver& operator=(const job_driver&) = delete;

  /// Drives replicas 0..replicas-1 of job `job`, whose creation is
  /// `job_id` (a replaced job's calls stop). Returns at once; an error when
  /// the job's records cannot be reached.
  [[nodiscard]] expected<void> drive(const std::string& job,
                                     const std::string& job_id,
                                     std::uint32_t replicas);

  /// Jobs with a replica still driven.
  [[nodiscard]] std::size_t driving() const;

  /// No new calls (a shutdown); the calls under way are left to end.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace emnist
