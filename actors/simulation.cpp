// The actor system of a local job: set up, run to the end, tear down.
#include "actors/simulation.hpp"

#include <thread>

#include "actors/coordinator.hpp"
#include "model/mlp.hpp"
#include "model/rng.hpp"
#include "runtime/crc32c.hpp"
#include "runtime/memcached_store.hpp"
#include "runtime/memory_store.hpp"

namespace emnist {
namespace {

/// The job never takes this long; a hung actor still cannot hang the caller.
constexpr auto progress_silence_limit = std::chrono::minutes(5);

expected<std::shared_ptr<parameter_store>> make_store(const job_config& cfg,
                                                      const mlp_shape& shape) {
  if (cfg.sync.store == "memory") return make_memory_store(shape.size());
  if (cfg.sync.store == "memcached") {
    memcached_options o;
    o.servers = cfg.sync.servers;
    o.job = cfg.sync.job;
    o.timeout = std::chrono::milliseconds(cfg.sync.timeout_ms);
    o.retry_for = std::chrono::milliseconds(cfg.sync.retry_ms);
    o.on_server_failure = cfg.sync.on_server_failure == "failover"
                              ? server_failure_policy::failover
                              : server_failure_policy::fail;
    o.block_floats = static_cast<std::size_t>(cfg.sync.block_bytes) / 4;
    // Blocks carry a tag of the job and its shapes: a value of another job
    // or of another model size under the same keys is refused.
    const std::string identity =
        cfg.sync.job + "|" + std::to_string(shape.inputs) + "x" +
        std::to_string(shape.hidden) + "x" + std::to_string(shape.classes);
    o.job_tag =
        (std::uint64_t{crc32c(identity.data(), identity.size())} << 32) |
        crc32c(identity.data(), identity.size(), 0x5eed);
    return make_memcached_store(shape.size(), o);
  }
  return make_error(errc::invalid_argument,
                    "sync.store: unknown store '" + cfg.sync.store + "'");
}

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

expected<simulation_result> run_simulation(
    const job_config& cfg, const job_data& data,
    const progress_callback& on_progress) {
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
  auto store = make_store(cfg, *shape);
  if (!store) return store.error();
  std::vector<float> initial(shape->size());
  init_parameters(
      *shape,
      seed_for(static_cast<std::uint64_t>(cfg.model.seed), 0, rng_stream::init),
      initial);
  if (auto ok = (*store)->initialize(initial); !ok) return ok.error();

  auto result = std::make_shared<simulation_result>();
  auto failure = std::make_shared<std::optional<error>>();
  {
    caf::actor_system_config sys_cfg;
    const auto threads =
        cfg.actors.scheduler_threads > 0
            ? static_cast<std::size_t>(cfg.actors.scheduler_threads)
            : std::max<std::size_t>(std::thread::hardware_concurrency(), 1);
    sys_cfg.set("scheduler.max-threads", threads);
    caf::actor_system sys{sys_cfg};
    caf::scoped_actor self{sys};
    auto coordinator = sys.spawn(
        coordinator_actor,
        coordinator_setup{cfg, &data, *shape, *store,
                          caf::actor_cast<caf::actor>(self), result, failure});
    bool running = true;
    bool timed_out = false;
    self->receive_while([&] { return running; })(
        [&](const progress_report& p) {
          if (on_progress) on_progress(p);
        },
        [&](done_atom) { running = false; },
        caf::after(progress_silence_limit) >>
            [&] {
              timed_out = true;
              running = false;
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
  (*store)->fetch(result->final_parameters, parameter_store::mixed_version,
                  [](expected<std::uint64_t>) {});
  return std::move(*result);
}

}  // namespace emnist
