// The actor system of a local job: set up, run to the end, tear down.
#include "actors/simulation.hpp"

#include <future>
#include <thread>

#include "actors/coordinator.hpp"
#include "actors/settings.hpp"
#include "model/mlp.hpp"
#include "model/rng.hpp"
#include "runtime/config/store_config.hpp"
#include "runtime/store/job_state.hpp"
#include "runtime/store/store_factory.hpp"

namespace emnist {
namespace {

/// The job never takes this long; a hung actor still cannot hang the caller.
constexpr auto progress_silence_limit = std::chrono::minutes(5);
constexpr auto stop_poll_interval = std::chrono::milliseconds(100);

expected<mlp_shape> shape_for(const job_config& cfg, const job_data& data) {
  mlp_shape shape{data.features, static_cast<std::size_t>(cfg.model.hidden),
                  data.classes};
  if (cfg.model.inputs != 0 &&
      static_cast<std::size_t>(cfg.model.inputs) != data.features) {
    return make_error(errc::invalid_argument,
                      "model.inputs = " + std::to_string(cfg.model.inputs) +
                          " but the images have " +
                          std::to_string(data.features) + " pixels");
  }
  if (cfg.model.classes != 0 &&
      static_cast<std::size_t>(cfg.model.classes) != data.classes) {
    return make_error(errc::invalid_argument,
                      "model.classes = " + std::to_string(cfg.model.classes) +
                          " but the data has " + std::to_string(data.classes) +
                          " classes");
  }
  return shape;
}

}  // namespace

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
  const job_start start = options.start;
  auto shape = shape_for(cfg, data);
  if (!shape) return shape.error();
  const auto replicas = static_cast<std::size_t>(cfg.train.replicas);
  const auto batch = static_cast<std::size_t>(cfg.train.batch_size);
  if (data.train.size() / replicas < batch) {
    return make_error(
        errc::invalid_argument,
        "train.batch_size = " + std::to_string(batch) +
            " is larger than a shard: " + std::to_string(data.train.size()) +
            " training samples over " + std::to_string(replicas) + " replicas");
  }
  std::vector<std::uint32_t> ids = options.ids;
  if (ids.empty()) {
    for (std::uint32_t i = 0; i < replicas; ++i) ids.push_back(i);
  }
  for (auto id : ids) {
    if (id >= replicas) {
      return make_error(errc::invalid_argument,
                        "replica " + std::to_string(id) + " of a job of " +
                            std::to_string(replicas) +
                            " (train.replicas): ids are 0.." +
                            std::to_string(replicas - 1));
    }
  }
  auto store = make_store(store_options_of(cfg, *shape), shape->size());
  if (!store) return store.error();
  std::vector<replica_record> starts;
  for (auto id : ids) {
    starts.emplace_back();
    starts.back().id = id;
  }
  if (start == job_start::create) {
    std::vector<float> initial(shape->size());
    init_parameters(*shape,
                    seed_for(static_cast<std::uint64_t>(cfg.model.seed), 0,
                             rng_stream::init),
                    initial);
    if (auto ok = create_job(*store, cfg, *shape, initial); !ok) {
      return ok.error();
    }
  } else {
    if (cfg.sync.store == store_kind::memory) {
      return make_error(errc::invalid_argument,
                        "--resume: the embedded store (sync.store = memory) "
                        "keeps nothing between runs; resume needs memcached");
    }
    if (auto joined = join_job(*store->records, cfg, *shape); !joined) {
      return joined.error();
    }
    for (auto& s : starts) {
      auto stored = read_replica(*store->records, s.id);
      if (!stored) return stored.error();
      if (*stored) s = **stored;
    }
  }

  auto result = std::make_shared<simulation_result>();
  result->resumed = start == job_start::resume;
  auto failure = std::make_shared<std::optional<error>>();
  {
    caf::actor_system_config sys_cfg;
    const auto threads =
        cfg.actors.scheduler_threads > 0
            ? static_cast<std::size_t>(cfg.actors.scheduler_threads)
            : std::max<std::size_t>(std::thread::hardware_concurrency(), 1);
    sys_cfg.set("scheduler.max-threads", threads);
    // One queue that idle workers sleep on and every enqueue wakes, from
    // any thread (work stealing left idle workers polling and asleep for
    // up to 10 ms when the store's thread sent them work).
    sys_cfg.set("scheduler.policy", caf::atom("sharing"));
    caf::actor_system sys{sys_cfg};
    caf::scoped_actor self{sys};
    const auto settings = settings_of(cfg);
    coordinator_setup setup;
    setup.settings = settings.coordinator;
    setup.replica = settings.replica;
    setup.evaluator = settings.evaluator;
    setup.data = &data;
    setup.shape = *shape;
    setup.store = store->parameters;
    setup.records = store->records;
    setup.listener = caf::actor_cast<caf::actor>(self);
    setup.result = result;
    setup.failure = failure;
    setup.start = starts;
    auto coordinator = spawn_coordinator(sys, std::move(setup));
    bool running = true;
    bool timed_out = false;
    bool stop_sent = false;
    auto last_heard = std::chrono::steady_clock::now();
    // A stop request is noticed within a poll interval.
    auto check_stop = [&] {
      if (!stop_sent && options.stop != nullptr && options.stop->load()) {
        stop_sent = true;
        self->send(coordinator, stop_atom::value);
      }
    };
    self->receive_while([&] { return running; })(
        [&](const progress_report& p) {
          last_heard = std::chrono::steady_clock::now();
          if (on_progress) on_progress(p);
          check_stop();
        },
        [&](done_atom) { running = false; },
        caf::after(stop_poll_interval) >>
            [&] {
              check_stop();
              if (std::chrono::steady_clock::now() - last_heard >
                  progress_silence_limit) {
                timed_out = true;
                running = false;
              }
            });
    if (timed_out) {
      self->send_exit(coordinator, caf::exit_reason::kill);
      return make_error(errc::internal,
                        "the job sent no progress for 5 minutes: stopped");
    }
  }
  if (*failure) return **failure;
  result->load_seconds = data.load_seconds;
  result->final_parameters.resize(shape->size());
  std::promise<expected<std::uint64_t>> fetched;
  store->parameters->fetch(result->final_parameters,
                           parameter_store::mixed_version,
                           [&fetched](expected<std::uint64_t> r) {
                             fetched.set_value(std::move(r));
                           });
  if (auto r = fetched.get_future().get(); !r) return r.error();
  // After that fetch, which waits for this process's pushes to land in the
  // store (a memcached store writes them behind the replicas' backs).
  result->sync = store->parameters->stats();
  return std::move(*result);
}

}  // namespace emnist
