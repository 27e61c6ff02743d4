// The message vocabulary of the actors of a job, in one place.
//
//   coordinator --start/stop--> replica --start--> loader, compute
//   loader  --(batch, slot)-->  compute  --(slot, slot)-->  loader
//   compute's sync_session (actors/sync.hpp) --(pushed, buffer, code, why),
//     (fetched, code, version, why), (restored, code, why)--> compute
//   (code: 0 for success, else 1 + the errc of the failure)
//   compute --(progress, replica, steps, epochs)--> coordinator
//   coordinator --(hold), (resume)--> replica --> compute: an evaluation is
//     a whole period overdue (actors/eval_schedule.hpp)
//   coordinator --(eval, tag)--> evaluator --(evaluated, tag, accuracy)-->
//   replica --(done, replica, epochs, samples, seconds)--> coordinator
//   store --(written)--> coordinator: a progress record is in the store
//   store --(reached)--> coordinator: a replica elsewhere reached the target
//
// Buffers (minibatch slots, delta buffers, the fetch buffer) live in the
// replica_context; messages pass their indices, which hands ownership over.
#pragma once

#include <caf/all.hpp>

namespace emnist {

using start_atom = caf::atom_constant<caf::atom("start")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using batch_atom = caf::atom_constant<caf::atom("batch")>;
using slot_atom = caf::atom_constant<caf::atom("slot")>;
using end_atom = caf::atom_constant<caf::atom("end")>;
using pushed_atom = caf::atom_constant<caf::atom("pushed")>;
using fetched_atom = caf::atom_constant<caf::atom("fetched")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using eval_atom = caf::atom_constant<caf::atom("eval")>;
using chunk_atom = caf::atom_constant<caf::atom("chunk")>;
using evaluated_atom = caf::atom_constant<caf::atom("evaluated")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
using restored_atom = caf::atom_constant<caf::atom("restored")>;
using written_atom = caf::atom_constant<caf::atom("written")>;
using reached_atom = caf::atom_constant<caf::atom("reached")>;
/// The replicas wait for an overdue evaluation, and go on.
using hold_atom = caf::atom_constant<caf::atom("hold")>;
using resume_atom = caf::atom_constant<caf::atom("resume")>;

}  // namespace emnist
