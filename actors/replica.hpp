// The replica supervisor: spawns and links the loader, compute and sync
// actors of one replica, starts them, and reports to the coordinator when
// the replica is done. A child that fails takes the replica down with it,
// and the coordinator, which monitors replicas, sees why.
//
//   spawned --(start)--> running --(stop) or compute done--> (done) --> exit
#pragma once

#include <memory>

#include "actors/messages.hpp"
#include "actors/replica_context.hpp"

namespace emnist {

caf::behavior replica_actor(caf::event_based_actor* self,
                            std::shared_ptr<replica_context> ctx,
                            caf::actor coordinator);

}  // namespace emnist
