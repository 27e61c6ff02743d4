// The sync actor of a replica: talks to the parameter store for compute, so
// that pushes and fetches overlap compute's next minibatch.
//
//   (push, buffer)  -> store.push(delta)    -> (pushed, buffer, ok, why)
//   (fetch, known)  -> store.fetch(buffer)  -> (fetched, ok, version, why)
//
// One operation is in flight at a time, in the order compute asked for
// them, whatever the store's threads do: a fetch asked for after a push
// sees it. The store reports completion through a callback on a thread of
// its own choosing; the callback only sends a message back here, so
// compute always runs on its own actor thread.
#pragma once

#include <memory>

#include "actors/messages.hpp"
#include "actors/replica_context.hpp"

namespace emnist {

caf::behavior sync_actor(caf::event_based_actor* self,
                         std::shared_ptr<replica_context> ctx,
                         caf::actor compute);

}  // namespace emnist
