// The OpenFaaS functions of a job behind one HTTP handler: emnist-setup
// (create a job, call its replicas through the gateway: functions/
// job_driver.hpp) and emnist-train (run one replica of a job until its
// target, its epochs or its time budget), plus the routes around them:
// health, readiness, status from the store, Prometheus metrics, and with
// the "all" function the gateway's own /function/NAME and
// /async-function/NAME routes, so that faas-cli works against one process
// without OpenFaaS. What a job is (creating, joining, its status, its
// model) belongs to jobs/: this is HTTP in, calls of it, HTTP out.
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
// Nothing here has a thread per call. Setup calls and status reads block
// on the store: they run on a bounded pool of the service's
// (work_threads). A train call is a job started on the process's one job
// runner (jobs/job_runner.hpp), whose completion answers the request; the
// calls setup makes are coroutines of the driver's one thread. Shutdown is
// a cancellation: every running job is told to stop, push and save, and
// answers.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "functions/job_driver.hpp"
#include "functions/metrics.hpp"
#include "functions/predict_service.hpp"
#include "functions/router.hpp"
#include "functions/secret_file.hpp"
#include "functions/status_history.hpp"
#include "jobs/job_lifecycle.hpp"
#include "jobs/job_registry.hpp"
#include "jobs/job_runner.hpp"
#include "model/data_files.hpp"
#include "runtime/config/config.hpp"
#include "runtime/net/http_server.hpp"

namespace boost::asio {
class thread_pool;
}
namespace boost::json {
class object;
}

namespace emnist {

class record_store;

class function_service {
 public:
  /// `base`: the process's config sources (file, environment, --set); a
  /// request's overrides come after them. `data`: loaded once, shared by
  /// every call. `function`: "setup", "train", "predict" or "all". `token`: the
  /// bearer token every route but health and readiness needs (empty:
  /// none), from load_secret().
  function_service(config_sources base, job_config config,
                   std::shared_ptr<const job_data> data, std::string function,
                   std::string token);
  ~function_service();  ///< begin_shutdown() and wait for the threads

  void handle(http_request request, http_reply reply);

  /// Reads the models the functions answer with (predict.model), before
  /// the server starts; an error names the file.
  [[nodiscard]] expected<void> load_models();

  /// Stops taking function calls (503); running replicas stop, push their
  /// pending deltas and save their progress, then answer.
  void begin_shutdown();
  /// Waits until no call is running, up to `deadline`; false on timeout.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  /// Finishes the status reads under way (they reply to the server: call
  /// this before the server goes). Later status requests get no answer.
  void finish_status_reads();

  /// Function calls running now.
  std::size_t running() const { return running_setup_ + running_train_; }

 private:
  using clock_type = std::chrono::steady_clock;
  /// A train call, checked: its job, its replica and its config.
  struct train_call {
    std::string job;
    std::optional<std::uint32_t> worker;  ///< none: the first free one
    job_config cfg;
    std::vector<std::string> overrides;  ///< the request's, for re-invoking
    /// Called by a setup's driver (?job_id=): the driver calls again when
    /// the time is up; else the call re-invokes itself.
    bool driven = false;
  };

  void begin_call(std::atomic<std::size_t>& count);
  void end_call(std::atomic<std::size_t>& count);
  static http_response guarded(const std::function<http_response()>& work);
  http_response setup(const http_request& request);
  /// Drives an existing job's replicas again (its setup process was
  /// restarted): refused while another setup drives it.
  http_response resume_job(const std::string& job);
  /// Waits a moment for the replicas of a job just set up to start, and
  /// says which did not and why (a platform that cannot run them all).
  boost::json::object first_outcomes(const std::string& job,
                                     std::uint32_t replicas);
  /// A train call's job and replica: ?job=J joins J with its stored
  /// settings (worker_id: the first free replica when absent); no ?job=
  /// sets up a job of its own, one replica, under a new name.
  std::variant<http_response, train_call> parse_train(
      const http_request& request);
  /// A new job's initial parameters, written through the registry.
  expected<job_metadata> set_up_job(const job_config& cfg, bool replace);
  std::string status_url(const std::string& job) const;
  void train(const http_request& request, http_reply answer);
  http_response trained(const train_call& call,
                        const expected<simulation_result>& result,
                        clock_type::time_point t0);
  bool reinvoke(const train_call& call);
  http_response status(const http_request& request);
  /// GET /model?job=J&format=onnx|npz: the job's current parameters.
  http_response model(const http_request& request);
  /// Threads for setup calls, status reads and async callbacks.
  static constexpr std::size_t work_threads = 4;

  config_sources base_;
  job_config config_;
  std::shared_ptr<const job_data> data_;
  std::string function_;
  std::string token_;  ///< empty: no auth
  function_metrics metrics_;
  predict_service predict_;
  status_history history_;  ///< for /status?history=1 (the live page)
  job_registry jobs_;       ///< the deployment's store's jobs
  std::atomic<bool> stopping_{false};
  std::atomic<std::size_t> running_setup_{0};
  std::atomic<std::size_t> running_train_{0};
  std::mutex running_mutex_;
  std::mutex admission_mutex_;  ///< route() and begin_call() as one step
  std::condition_variable idle_;
  job_runner runner_;
  job_driver driver_;  ///< setup's calls of the replicas
  /// Last of the workers: it joins first, while what it uses is alive.
  std::unique_ptr<boost::asio::thread_pool> work_;
};

}  // namespace emnist
