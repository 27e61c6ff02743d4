// The parameter store on a memcached pool: the job's parameters as blocks
// under the job's own keys, deltas added by gets/cas (retried on conflict),
// every value checked by the block codec.
//
//   memcached_options o;
//   o.servers = {"127.0.0.1:11211"};
//   o.job = "j1";
//   auto store = make_memcached_store(shape.size(), o);
//   if (!store) fail(store.error().message);
//
// Keys: "emnist:<job>:b:<index>" for block <index>, "emnist:<job>:meta" for
// the job's metadata. Blocks spread over the servers by consistent hashing
// (ketama). libmemcached calls block, so they run on a small thread pool of
// the store's own, each thread with its own memcached handle; completions
// run on those threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/parameter_store.hpp"

namespace emnist {

struct memcached_options {
  std::vector<std::string> servers{"127.0.0.1:11211"};  ///< "host:port"
  std::string job = "emnist";  ///< key namespace: [A-Za-z0-9_.-], 1-64
  std::chrono::milliseconds timeout{1000};  ///< connect and poll timeout
  /// How long an operation keeps retrying an unreachable server before it
  /// fails (a restart takes a moment).
  std::chrono::milliseconds retry_for{5000};
  std::size_t block_floats = 65536;         ///< 256 KiB of floats a block
  std::uint64_t job_tag = 0;   ///< written in, and checked on, blocks
  int max_cas_retries = 1000;  ///< conflicts before a push fails
  std::size_t io_threads = 2;  ///< threads running libmemcached calls
};

/// Validates the options (server list, job name, block size) and connects
/// lazily: the first operation reports an unreachable server.
[[nodiscard]] expected<std::shared_ptr<parameter_store>> make_memcached_store(
    std::size_t floats, const memcached_options& options);

/// Parses "host:port"; errors quote the entry.
struct server_address {
  std::string host;
  std::uint16_t port = 0;
};
[[nodiscard]] expected<server_address> parse_server(const std::string& text);

}  // namespace emnist
