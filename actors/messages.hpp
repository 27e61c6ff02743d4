// The typed protocol of a job's actors, in one place: every actor's
// interface (a caf::typed_actor, so the compiler checks who may send what),
// the buffers that move between them, and how errors travel.
//
//   coordinator --(start), (stop), (hold), (resume)--> replica
//   replica --(start, loader), (stop), (hold), (resume)--> compute
//   compute --(start)--> loader --(batch, batch_ptr)--> compute
//   compute --(slot, batch_ptr)--> loader         (the buffer goes back)
//   compute's sync (actors/sync.hpp) --(pushed, delta_ptr, outcome),
//     (fetched, version, outcome), (restored, outcome)--> compute
//   compute --(progress, replica, steps, epochs)--> coordinator
//   compute --(done, worker_summary)--> replica --> coordinator
//   compute --(failed, error)--> coordinator
//   coordinator --(eval, tag)--> evaluator --(evaluated, tag, accuracy,
//     outcome)--> coordinator
//   coordinator's ledger callbacks --(written, lost), (reached), (stop)-->
//     coordinator
//   coordinator --(done, simulation_result) or (failed, error)--> listener
//
// Buffers move with the messages: whoever holds a batch_ptr or a delta_ptr
// owns that buffer, and gives it up by sending it on. Errors travel whole
// (their errc and message): a corrupt block stays data_loss and a bad
// setting invalid_argument all the way to the HTTP status and the exit
// status.
#pragma once

#include <caf/all.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "base/expected.hpp"
#include "model/sparse_batch.hpp"

namespace emnist {

using start_atom = caf::atom_constant<caf::atom("start")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using batch_atom = caf::atom_constant<caf::atom("batch")>;
using slot_atom = caf::atom_constant<caf::atom("slot")>;
using end_atom = caf::atom_constant<caf::atom("end")>;
using pushed_atom = caf::atom_constant<caf::atom("pushed")>;
using fetched_atom = caf::atom_constant<caf::atom("fetched")>;
using restored_atom = caf::atom_constant<caf::atom("restored")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
using eval_atom = caf::atom_constant<caf::atom("eval")>;
using chunk_atom = caf::atom_constant<caf::atom("chunk")>;
using evaluated_atom = caf::atom_constant<caf::atom("evaluated")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using written_atom = caf::atom_constant<caf::atom("written")>;
using reached_atom = caf::atom_constant<caf::atom("reached")>;
/// The replicas wait for an overdue evaluation, and go on.
using hold_atom = caf::atom_constant<caf::atom("hold")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;

/// One prepared minibatch: the inputs without their zeros, the labels.
struct batch_slot {
  sparse_batch x;
  std::vector<std::uint8_t> labels;
  std::uint32_t epoch = 0;     ///< pass over the shard it belongs to
  bool last_of_epoch = false;  ///< the pass ends with this minibatch
};
/// A minibatch buffer, owned by whoever holds the pointer.
using batch_ptr = std::shared_ptr<batch_slot>;
/// A delta on its way to the store (L - B), owned by whoever holds it.
using delta_ptr = std::shared_ptr<std::vector<float>>;

/// How an operation ended, in a message: nothing, or the project's error.
using outcome = std::optional<error>;

/// What a replica reports when it is done.
struct worker_summary {
  std::uint32_t id = 0;
  std::uint64_t iterations = 0;  ///< completed passes, resumed ones too
  std::uint64_t samples = 0;     ///< trained in this run
  /// Deltas the store accepted from this replica in this run (the
  /// store's own counts are of the whole process's pushes).
  std::uint64_t pushes = 0;
  double seconds = 0;            ///< from its first minibatch to its end
  double sync_wait_seconds = 0;  ///< compute waiting for the store
  double eval_wait_seconds = 0;  ///< compute held for an overdue evaluation
};

/// The loader of a replica.
using loader_actor = caf::typed_actor<
    /// Fill every buffer it was given and send each to compute.
    caf::reacts_to<start_atom>,
    /// A buffer back from compute: fill it with the next minibatch.
    caf::reacts_to<slot_atom, batch_ptr>>;

/// The compute actor of a replica.
using compute_actor = caf::typed_actor<
    /// Start: fetch the initial parameters, then start the loader.
    caf::reacts_to<start_atom, loader_actor>,
    /// A minibatch to train (the buffer goes back to the loader after).
    caf::reacts_to<batch_atom, batch_ptr>,
    /// The loader has done every pass: train what is held, then finish.
    caf::reacts_to<end_atom>,
    /// Finish now: push what is pending, then report done.
    caf::reacts_to<stop_atom>,
    /// Wait for an overdue evaluation; go on.
    caf::reacts_to<hold_atom>, caf::reacts_to<resume_atom>,
    /// The store's replies to its sync's operations.
    caf::reacts_to<pushed_atom, delta_ptr, outcome>,
    caf::reacts_to<fetched_atom, std::uint64_t, outcome>,
    caf::reacts_to<restored_atom, outcome>>;

/// A replica: supervises its loader and compute.
using replica_actor =
    caf::typed_actor<caf::reacts_to<start_atom>, caf::reacts_to<stop_atom>,
                     caf::reacts_to<hold_atom>, caf::reacts_to<resume_atom>,
                     /// From its compute: forwarded to the coordinator.
                     caf::reacts_to<done_atom, worker_summary>>;

/// The evaluator of a job.
using evaluator_actor = caf::typed_actor<
    /// Score the store's current parameters; tag comes back with the
    /// result.
    caf::reacts_to<eval_atom, std::uint64_t>,
    /// Internal: the next chunk of rows of evaluation `tag`, from `begin`,
    /// or the fetch's failure.
    caf::reacts_to<chunk_atom, std::uint64_t, std::uint64_t, outcome>>;

/// The coordinator of a job.
using coordinator_actor = caf::typed_actor<
    caf::reacts_to<progress_atom, std::uint32_t, std::uint64_t, std::uint32_t>,
    caf::reacts_to<evaluated_atom, std::uint64_t, double, outcome>,
    caf::reacts_to<done_atom, worker_summary>,
    caf::reacts_to<failed_atom, error>,
    /// A replica in another process reached the target.
    caf::reacts_to<reached_atom>,
    /// The progress records are saved; the replicas whose slot another
    /// call took over (they stop).
    caf::reacts_to<written_atom, std::vector<std::uint32_t>>,
    /// Stop the job (a shutdown): push, save progress, report.
    caf::reacts_to<stop_atom>,
    /// Internal: twice a second, progress and records.
    caf::reacts_to<tick_atom>>;

}  // namespace emnist

// Local messages only (nothing here crosses a network), so no serializer.
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(emnist::batch_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(emnist::delta_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(emnist::outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(emnist::error)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(emnist::worker_summary)
