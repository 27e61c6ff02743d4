// A job's store on a memcached pool: its parameters as blocks under the
// job's own keys, deltas added by gets/cas (retried on conflict), every
// value checked by the block codec; and its records beside them.
//
//   memcached_options o;
//   o.servers = {"127.0.0.1:11211"};
//   o.job = "j1";
//   auto store = make_memcached_store(shape.size(), o);
//   if (!store) fail(store.error().message);
//   store->parameters->push(delta, done);
//
// Keys: "emnist:<job>:b:<index>" for block <index>, "emnist:<job>:version"
// for the count of pushes applied, "emnist:<job>:<name>" for the records
// (metadata, progress). Blocks spread over the servers by consistent
// hashing (ketama).
//
// The parameters and the records share one client
// (runtime/store/memcached_client.hpp): one pool of connections, one io
// thread on which every operation is a C++20 coroutine, a few threads for
// the blocking calls, one retry-and-failover policy. Files:
// memcached_store.cpp (parameters), memcached_records.cpp (records),
// memcached_client.cpp (threads and policy), memcached_pool.cpp (the one
// boundary to memcached).
#pragma once

#include <cstddef>
#include <memory>

#include "runtime/store/job_store.hpp"
#include "runtime/store/memcached_options.hpp"

namespace emnist {

class memcached_client;

/// Validates the options (server list, job name, block size) and connects
/// lazily: the first operation reports an unreachable server.
[[nodiscard]] expected<job_store> make_memcached_store(
    std::size_t floats, const memcached_options& options);

/// The records part alone, on an existing client (memcached_records.cpp).
[[nodiscard]] std::shared_ptr<record_store> make_memcached_records(
    std::shared_ptr<memcached_client> client);

}  // namespace emnist
