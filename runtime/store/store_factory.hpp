// Makes the parameter store a job's config asks for (sync.store): the
// embedded one, or a memcached pool with the sync.* settings.
//
//   auto store = make_store(cfg, shape);
//   if (!store) fail(store.error().message);   // names the sync.* key
#pragma once

#include <memory>

#include "base/expected.hpp"
#include "model/mlp.hpp"
#include "runtime/config/config.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

/// A store for `shape.size()` parameters. For a reader of records only
/// (`emnist status`), pass an empty shape.
[[nodiscard]] expected<std::shared_ptr<parameter_store>> make_store(
    const job_config& cfg, const mlp_shape& shape);

}  // namespace emnist
