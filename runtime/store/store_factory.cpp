// sync.* settings to store options.
#include "runtime/store/store_factory.hpp"

#include "runtime/store/crc32c.hpp"
#include "runtime/store/memcached_store.hpp"
#include "runtime/store/memory_store.hpp"

namespace emnist {

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
    o.push_reads = cfg.sync.push_reads == "always"
                       ? push_read_policy::always
                       : push_read_policy::when_changed;
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

}  // namespace emnist
