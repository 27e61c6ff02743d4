// The compute actor of a replica: the hot path. It owns the replica's local
// parameters and trains them one minibatch per (batch) message; its sync
// (actors/sync.hpp) pushes the pending delta and fetches fresh parameters
// while it keeps training (Downpour SGD). The bookkeeping (what is
// pending, when to push, fetch or wait) is actors/downpour_state.hpp.
//
//   waiting --(start, loader)--> fetching the initial parameters
//     --(fetched)--> training: (batch)... (hold) waits, (resume) goes on
//     --(end) or (stop)--> finishing: push what is pending, wait for the
//        store --> (done, summary) to the replica
#pragma once

#include <cstdint>
#include <memory>

#include "actors/messages.hpp"
#include "actors/settings.hpp"
#include "model/mlp.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

struct compute_setup {
  std::uint32_t replica = 0;
  compute_settings settings;
  mlp_shape shape;
  std::shared_ptr<parameter_store> store;
  std::uint64_t start_steps = 0;   ///< a resumed replica's
  std::uint64_t start_epochs = 0;  ///< ditto
  replica_actor supervisor;        ///< gets (done, summary)
  coordinator_actor coordinator;   ///< gets (progress, ...), (failed, ...)
};

/// Spawns compute, linked to `parent` (its replica).
[[nodiscard]] compute_actor spawn_compute(caf::local_actor& parent,
                                          compute_setup setup);

}  // namespace emnist
