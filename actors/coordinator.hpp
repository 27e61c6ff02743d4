// The coordinator of a job: spawns N replicas and the evaluator, counts the
// job's minibatches, asks for an evaluation every `train.eval_every` of
// them (or after each pass over the shards), stops the job at the target
// accuracy or when every replica has done `train.max_epochs`, and fills in
// the result.
//
//   running --eval reaches target--> stopping --all replicas done--> done
//   running --all replicas done--> final evaluation --> done
//   any state --a replica fails--> stopping (with the error) --> done
//
// Every replica's progress goes to the store about twice a second and
// once more at the end (done, reached), before the job reports done: that
// is what `emnist status` reads and what a resumed replica starts from.
//
// Evaluations never overlap: a tick that comes while one runs is kept and
// served when it ends, with the parameters of that moment.
#pragma once

#include <memory>

#include "actors/messages.hpp"
#include "actors/simulation.hpp"
#include "model/mlp.hpp"
#include "runtime/store/job_state.hpp"

namespace emnist {

struct coordinator_setup {
  job_config cfg;
  const job_data* data = nullptr;  ///< outlives the job (run_simulation's)
  mlp_shape shape;
  std::shared_ptr<parameter_store> store;
  caf::actor listener;  ///< gets progress_report, then (done)
  std::shared_ptr<simulation_result> result;
  std::shared_ptr<std::optional<error>> failure;
  /// Where each replica starts (its stored progress when resuming); empty:
  /// all from zero.
  std::vector<replica_record> start;
};

caf::behavior coordinator_actor(caf::event_based_actor* self,
                                coordinator_setup setup);

}  // namespace emnist

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(emnist::progress_report)
