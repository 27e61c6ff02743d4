// Makes the store a job's options ask for: the embedded one, or a memcached
// pool.
//
//   auto store = make_store(store_options_of(cfg, shape), shape.size());
//   if (!store) fail(store.error().message);   // names the sync.* key
#pragma once

#include <cstddef>

#include "base/expected.hpp"
#include "runtime/store/job_store.hpp"
#include "runtime/store/store_options.hpp"

namespace emnist {

/// A store for `floats` parameters. For a reader of records only (`emnist
/// status`), pass 0.
[[nodiscard]] expected<job_store> make_store(const store_options& options,
                                             std::size_t floats);

}  // namespace emnist
