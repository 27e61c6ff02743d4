// The sync.* settings of a job as the options of its store.
//
//   auto store = make_store(store_options_of(cfg, shape), shape.size());
#pragma once

#include "model/mlp.hpp"
#include "runtime/config/config.hpp"
#include "runtime/store/store_options.hpp"

namespace emnist {

/// `shape` goes into the tag written in (and checked on) every block, so
/// that a value of another job or of another model size under the same
/// keys is refused. A reader of records only may pass an empty shape.
[[nodiscard]] store_options store_options_of(const job_config& cfg,
                                             const mlp_shape& shape);

}  // namespace emnist
