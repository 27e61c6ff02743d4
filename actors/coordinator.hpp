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
// Every replica's progress goes to the job's ledger (the store's records)
// about twice a second and once more at the end (done, reached, why it
// stopped), before the job reports: that is what `emnist status` reads and
// what a resumed replica starts from. The job ends with one typed message
// to its listener: (done, simulation_result) or (failed, error).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "actors/job_ledger.hpp"
#include "actors/job_result.hpp"
#include "actors/messages.hpp"
#include "actors/replica_record.hpp"
#include "actors/settings.hpp"
#include "model/data_files.hpp"
#include "model/mlp.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

struct coordinator_setup {
  coordinator_settings settings;
  replica_settings replica;
  evaluator_settings evaluator;
  const job_data* data = nullptr;  ///< outlives the job
  mlp_shape shape;
  std::shared_ptr<parameter_store> store;
  std::shared_ptr<job_ledger> ledger;  ///< progress, the reached flag
  /// Gets progress_report about twice a second, then one of (done,
  /// simulation_result) or (failed, error).
  caf::actor listener;
  /// Where each replica of this process starts (its stored progress when
  /// resuming); empty: all of the job's replicas, from zero.
  std::vector<replica_record> start;
};

[[nodiscard]] coordinator_actor spawn_coordinator(caf::actor_system& system,
                                                  coordinator_setup setup);

}  // namespace emnist

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(emnist::progress_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(emnist::simulation_result)
