// The loader actor of a replica: walks its shard in a fresh random order
// each pass, prepares minibatches (float values without the zeros: see
// model/sparse_batch.hpp) in `prefetch` buffers of its own, and keeps them
// ready ahead of compute. A buffer goes to compute with each minibatch and
// comes back when compute has trained it.
//
//   idle --(start)--> filling every buffer --(slot, buffer)--> refill it
//        ... after max_epochs passes: (end) to compute, then idle
#pragma once

#include <cstdint>

#include "actors/messages.hpp"
#include "actors/settings.hpp"
#include "model/dataset.hpp"

namespace emnist {

struct loader_setup {
  std::uint32_t replica = 0;
  loader_settings settings;
  data_view shard;
  /// Passes already done (a resumed replica replays their shuffles and
  /// trains the interrupted pass again).
  std::uint64_t start_epochs = 0;
  compute_actor compute;
};

/// Spawns the loader, linked to `parent` (its replica).
[[nodiscard]] loader_actor spawn_loader(caf::local_actor& parent,
                                        loader_setup setup);

}  // namespace emnist
