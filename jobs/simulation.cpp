// A local job, run to its end on a job runner of its own.
#include "jobs/simulation.hpp"

#include <future>

#include "jobs/job_runner.hpp"

namespace emnist {

expected<simulation_result> run_simulation(const job_config& cfg,
                                           const job_data& data,
                                           const progress_callback& on_progress,
                                           job_start start) {
  replicas_options options;
  options.start = start;
  return run_replicas(cfg, data, options, on_progress);
}

expected<simulation_result> run_replicas(const job_config& cfg,
                                         const job_data& data,
                                         const replicas_options& options,
                                         const progress_callback& on_progress) {
  job_runner runner(static_cast<std::size_t>(cfg.actors.scheduler_threads));
  std::promise<expected<simulation_result>> done;
  // The data outlives the job: this call waits for it.
  const std::shared_ptr<const job_data> borrowed(
      std::shared_ptr<const job_data>{}, &data);
  runner.start(
      cfg, borrowed, options, on_progress,
      [&done](expected<simulation_result> r) { done.set_value(std::move(r)); });
  return done.get_future().get();
}

}  // namespace emnist
