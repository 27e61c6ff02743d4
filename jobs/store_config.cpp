// sync.* settings to store options.
#include "jobs/store_config.hpp"

#include <chrono>

#include "runtime/store/crc32c.hpp"

namespace emnist {

store_options store_options_of(const job_config& cfg, const mlp_shape& shape) {
  store_options s;
  s.kind = cfg.sync.store == store_kind::memcached ? store_backend::memcached
                                                   : store_backend::memory;
  auto& o = s.memcached;
  o.servers = cfg.sync.servers;
  o.job = cfg.sync.job;
  o.timeout = std::chrono::milliseconds(cfg.sync.timeout_ms);
  o.retry_for = std::chrono::milliseconds(cfg.sync.retry_ms);
  o.write_interval = std::chrono::milliseconds(cfg.sync.write_interval_ms);
  o.max_unwritten = static_cast<std::size_t>(cfg.sync.max_unwritten);
  o.max_view_age = std::chrono::microseconds(
      static_cast<std::int64_t>(cfg.sync.max_view_age_ms * 1000.0));
  o.lone_interval = std::chrono::milliseconds(cfg.sync.lone_interval_ms);
  o.on_server_failure =
      cfg.sync.on_server_failure == server_failure_setting::failover
          ? server_failure_policy::failover
          : server_failure_policy::fail;
  o.block_floats = static_cast<std::size_t>(cfg.sync.block_bytes) / 4;
  o.push_reads = cfg.sync.push_reads == push_reads_setting::always
                     ? push_read_policy::always
                     : push_read_policy::when_changed;
  const std::string identity =
      cfg.sync.job + "|" + std::to_string(shape.inputs) + "x" +
      std::to_string(shape.hidden) + "x" + std::to_string(shape.classes);
  o.job_tag = (std::uint64_t{crc32c(identity.data(), identity.size())} << 32) |
              crc32c(identity.data(), identity.size(), 0x5eed);
  return s;
}

}  // namespace emnist
