// The message vocabulary of the actors of a job, in one place.
//
//   coordinator --start/stop--> replica --start--> loader, compute
//   loader  --(batch, slot)-->  compute  --(slot, slot)-->  loader
//   compute --(push, buffer)--> sync --(pushed, buffer, code, why)--> compute
//   compute --(fetch, known)--> sync --(fetched, code, version, why)--> compute
//   compute --(restore)--> sync --(restored, code, why)--> compute
//   (a push queued right before a fetch runs as one store operation; sync
//   answers compute with both replies, in order)
//   (code: 0 for success, else 1 + the errc of the failure)
//   compute --(progress, replica, steps, epochs)--> coordinator
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
using push_atom = caf::atom_constant<caf::atom("push")>;
using pushed_atom = caf::atom_constant<caf::atom("pushed")>;
using fetch_atom = caf::atom_constant<caf::atom("fetch")>;
/// A push and then a fetch of the parameters it leaves: one store operation.
using push_fetch_atom = caf::atom_constant<caf::atom("push_fetch")>;
using fetched_atom = caf::atom_constant<caf::atom("fetched")>;
using progress_atom = caf::atom_constant<caf::atom("progress")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using eval_atom = caf::atom_constant<caf::atom("eval")>;
using chunk_atom = caf::atom_constant<caf::atom("chunk")>;
using evaluated_atom = caf::atom_constant<caf::atom("evaluated")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
using restore_atom = caf::atom_constant<caf::atom("restore")>;
using restored_atom = caf::atom_constant<caf::atom("restored")>;
using written_atom = caf::atom_constant<caf::atom("written")>;
using reached_atom = caf::atom_constant<caf::atom("reached")>;
using pushfetched_atom = caf::atom_constant<caf::atom("pushfetch")>;

}  // namespace emnist
