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
// Keys: "emnist:<job>:b:<index>" for block <index>, "emnist:<job>:version"
// for the count of pushes applied, "emnist:<job>:<name>" for the records
// (metadata, progress). Blocks spread over the servers by consistent
// hashing (ketama).
//
// Every operation is a C++20 coroutine on the store's own io_context
// thread: it retries, backs off and fails over there, and the blocks of a
// push go out at once. The blocking libmemcached calls themselves run on a
// small thread pool, each with a connection of its own; completions run on
// the io thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/parameter_store.hpp"

namespace emnist {

/// Whether a push reads a block before adding its delta.
enum class push_read_policy {
  /// Only when the block changed since this store last wrote it: the cas
  /// then carries the sum made on the store's own copy, and memcached
  /// refuses it if another writer came in between (the push then reads).
  when_changed,
  always,  ///< gets before every cas
};

/// What to do when a server stays unreachable for `retry_for`.
enum class server_failure_policy {
  fail,      ///< the operation fails, naming the server: the job stops
  failover,  ///< drop the server from the pool; its blocks are restored
             ///< on the others from the replicas' copies
};

struct memcached_options {
  std::vector<std::string> servers{"127.0.0.1:11211"};  ///< "host:port"
  std::string job = "emnist";  ///< key namespace: [A-Za-z0-9_.-], 1-64
  std::chrono::milliseconds timeout{1000};  ///< connect and poll timeout
  /// How long an operation keeps retrying an unreachable server before
  /// `on_server_failure` applies (a restart takes a moment).
  std::chrono::milliseconds retry_for{5000};
  server_failure_policy on_server_failure = server_failure_policy::fail;
  std::size_t block_floats = 65536;  ///< 256 KiB of floats a block
  std::uint64_t job_tag = 0;         ///< written in, and checked on, blocks
  int max_cas_retries = 1000;        ///< conflicts before a push fails
  std::size_t io_threads = 4;        ///< threads running libmemcached calls
  push_read_policy push_reads = push_read_policy::when_changed;
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
