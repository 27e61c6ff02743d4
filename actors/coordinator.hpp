// The coordinator of a job: spawns its replicas (those of this process) and
// the evaluator, counts the job's minibatches, asks for an evaluation every
// `eval_every` of them (or after each pass over the shards: its schedule is
// actors/eval_schedule.hpp), stops the job at the target accuracy or when
// every replica has done its passes, and fills in the result.
//
//   running --eval reaches target--> stopping --all replicas done--> done
//   running --all replicas done--> final evaluation --> done
//   any state --a replica fails--> stopping (with the error) --> done
//
// Every replica's progress goes to the store about twice a second and
// once more at the end (done, reached, why it stopped), before the job
// reports done: that is what `emnist status` reads and what a resumed
// replica starts from.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "actors/messages.hpp"
#include "actors/settings.hpp"
#include "actors/simulation.hpp"
#include "model/mlp.hpp"
#include "runtime/store/job_state.hpp"
#include "runtime/store/parameter_store.hpp"
#include "runtime/store/record_store.hpp"

namespace emnist {

struct coordinator_setup {
  coordinator_settings settings;
  replica_settings replica;
  evaluator_settings evaluator;
  const job_data* data = nullptr;  ///< outlives the job
  mlp_shape shape;
  std::shared_ptr<parameter_store> store;
  std::shared_ptr<record_store> records;  ///< progress, the reached flag
  caf::actor listener;                    ///< gets progress_report, then (done)
  std::shared_ptr<simulation_result> result;
  std::shared_ptr<std::optional<error>> failure;
  /// Where each replica of this process starts (its stored progress when
  /// resuming); empty: all of the job's replicas, from zero.
  std::vector<replica_record> start;
  /// The job's metadata record (meta_record_value), written back with the
  /// progress whenever it is missing; empty: not kept up.
  std::string meta;
};

[[nodiscard]] coordinator_actor spawn_coordinator(caf::actor_system& system,
                                                  coordinator_setup setup);

}  // namespace emnist

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(emnist::progress_report)
