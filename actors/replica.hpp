// The replica supervisor: spawns and links the loader and compute actors of
// one replica (compute drives its sync itself: actors/sync.hpp), starts
// them, and reports to the coordinator when the replica is done. A child
// that fails takes the replica down with it, and the coordinator, which
// links to replicas, sees why.
//
//   spawned --(start)--> running --(stop) or compute done--> (done) --> exit
#pragma once

#include <cstdint>
#include <memory>

#include "actors/messages.hpp"
#include "actors/replica_record.hpp"
#include "actors/settings.hpp"
#include "model/dataset.hpp"
#include "model/mlp.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

struct replica_setup {
  std::uint32_t id = 0;
  replica_settings settings;
  mlp_shape shape;
  data_view shard;  ///< its part of data.train
  std::shared_ptr<parameter_store> store;
  /// Where training starts: zeros, or the stored progress it resumes
  /// (passes done, steps); an interrupted pass is trained again.
  replica_record start;
  coordinator_actor coordinator;
};

/// Spawns a replica, linked to `parent` (its coordinator).
[[nodiscard]] replica_actor spawn_replica(caf::local_actor& parent,
                                          replica_setup setup);

}  // namespace emnist
