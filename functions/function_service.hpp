// The OpenFaaS functions of a job behind one HTTP handler: emnist-setup
// (create a job, start its train invocations through the gateway) and
// emnist-train (run one replica of a job until its target, its epochs or
// its time budget), plus the routes around them: health, readiness,
// status from the store, Prometheus metrics, and with the "all" function
// the gateway's own /function/NAME and /async-function/NAME routes, so that
// faas-cli works against one process without OpenFaaS.
//
//   function_service service(base_sources, std::move(data), "all");
//   http_server server(options, [&](http_request r, http_reply reply) {
//     service.handle(std::move(r), std::move(reply));
//   });
//   ...
//   service.begin_shutdown();   // SIGTERM: replicas push, save, answer
//   server.stop(grace);
//   service.wait_idle(deadline);
//
// The training itself runs on threads of its own (one per call): handle()
// returns at once and never blocks the HTTP thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "functions/metrics.hpp"
#include "model/data_files.hpp"
#include "runtime/config/config.hpp"
#include "runtime/net/http_server.hpp"
#include "runtime/store/job_state.hpp"

namespace boost::asio {
class thread_pool;
}

namespace emnist {

class record_store;

/// Which function a process serves: "setup", "train" or "all".
[[nodiscard]] expected<std::string> parse_function_name(const std::string& s);

class function_service {
 public:
  /// `base`: the process's config sources (file, environment, --set); a
  /// request's overrides come after them. `data`: loaded once, shared by
  /// every call. `function`: "setup", "train" or "all".
  function_service(config_sources base, job_config config,
                   std::shared_ptr<const job_data> data, std::string function);
  ~function_service();  ///< begin_shutdown() and wait for the threads

  void handle(http_request request, http_reply reply);

  /// Stops taking function calls (503); running replicas stop, push their
  /// pending deltas and save their progress, then answer.
  void begin_shutdown();
  /// Waits until no call is running, up to `deadline`; false on timeout.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  /// Finishes the status reads under way (they reply to the server: call
  /// this before the server goes). Later status requests get no answer.
  void finish_status_reads();

  /// Function calls running now.
  std::size_t running() const { return running_; }

 private:
  void route_request(http_request request, http_reply reply);
  void dispatch_function(const std::string& name, http_request request,
                         http_reply reply);
  void run_async(const std::string& name, http_request request,
                 http_reply reply);
  void start_call(std::function<http_response()> work, http_reply reply);
  http_response setup(const http_request& request);
  http_response train(const http_request& request);
  http_response status(const http_request& request);
  expected<job_config> request_config(const http_request& request,
                                      std::vector<std::string>& overrides,
                                      std::string& field) const;
  bool authorized(const http_request& request) const;

  config_sources base_;
  job_config config_;
  std::shared_ptr<const job_data> data_;
  std::string function_;
  std::string token_;  ///< empty: no auth
  function_metrics metrics_;
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> running_{0};
  std::mutex running_mutex_;
  std::condition_variable idle_;
  /// Status reads block on the store: they run here, never on the HTTP
  /// thread, so that health and metrics answer while memcached is slow.
  std::unique_ptr<boost::asio::thread_pool> status_pool_;
  std::mutex stores_mutex_;
  /// Stores of the jobs whose status was read lately (connections kept).
  std::map<std::string, std::shared_ptr<record_store>> status_stores_;
  struct cached_status {
    std::chrono::steady_clock::time_point read_at;
    job_status status;
  };
  std::map<std::string, cached_status> status_cache_;  ///< by job
};

}  // namespace emnist
