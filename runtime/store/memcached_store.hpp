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

#include "runtime/store/memcached_options.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

/// Validates the options (server list, job name, block size) and connects
/// lazily: the first operation reports an unreachable server.
[[nodiscard]] expected<std::shared_ptr<parameter_store>> make_memcached_store(
    std::size_t floats, const memcached_options& options);

}  // namespace emnist
