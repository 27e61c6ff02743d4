// The loader actor of a replica: walks its shard in a fresh random order
// each pass, prepares minibatches in the replica's slots (float values
// without the zeros: see model/sparse_batch.hpp), and keeps up to
// `actors.prefetch` of them ready ahead of compute.
//
//   idle --start--> filling every slot --(slot returned)--> refill it
//        ... after train.max_epochs passes: (end) to compute, then idle
#pragma once

#include <memory>

#include "actors/messages.hpp"
#include "actors/replica_context.hpp"

namespace emnist {

/// Spawned with the replica's context and its compute actor. Handles
/// (start) and (slot, index) from compute.
caf::behavior loader_actor(caf::event_based_actor* self,
                           std::shared_ptr<replica_context> ctx,
                           caf::actor compute);

}  // namespace emnist
