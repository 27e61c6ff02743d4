// The compute actor of a replica: the hot path. It owns the replica's local
// parameters and trains them one minibatch per (batch) message; every
// `sync.push_every` steps it hands the pending delta to sync, every
// `sync.fetch_every` steps it asks sync for fresh parameters, and applies
// them when they arrive while it keeps training (Downpour SGD).
//
//   waiting --(start, loader, sync)--> training --(end) or (stop)-->
//   finishing: push what is pending, wait for sync --> (done) to replica
//
// The Downpour bookkeeping (what is pending, when to push, fetch or wait)
// is actors/downpour_state.hpp; this actor runs the steps and the messages.
#pragma once

#include <memory>

#include "actors/messages.hpp"
#include "actors/replica_context.hpp"

namespace emnist {

/// Spawned with the replica's context, its replica supervisor (which gets
/// (done, ...)) and the coordinator (which gets (progress, ...)).
caf::behavior compute_actor(caf::event_based_actor* self,
                            std::shared_ptr<replica_context> ctx,
                            caf::actor replica, caf::actor coordinator);

}  // namespace emnist
