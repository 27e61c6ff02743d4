// Where a job's progress is kept for its other processes, its later runs
// and its status readers. The coordinator saves each replica's record there
// about twice a second and once at the end, announces that the target was
// reached, and asks whether the job must stop. The implementation over the
// store's records is jobs/store_ledger.hpp: the actors know no record
// format and no store key.
//
//   ledger->save(records, [me](std::vector<std::uint32_t> lost) {
//     caf::anon_send(me, written_atom::value, std::move(lost));
//   });
//   ledger->poll([me](job_ledger::signal s) { ... });
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "actors/replica_record.hpp"

namespace emnist {

class job_ledger {
 public:
  /// What a poll finds: nothing; the target reached by a replica of the
  /// job in another process; or a stop (the job is being replaced).
  enum class signal { none, reached, stop };
  /// The ids of this process's replicas whose slot another call holds
  /// now (a call that took over a slot it found abandoned, or a replace):
  /// they must stop, their progress is no longer theirs to save.
  using saved = std::function<void(std::vector<std::uint32_t> lost)>;

  virtual ~job_ledger() = default;

  /// Saves the records of this process's replicas. Best effort: a store
  /// that is down shows in the pushes and fetches. `done` runs once, on
  /// any thread; a save never starts before the previous one's `done`.
  virtual void save(std::vector<replica_record> records, saved done) = 0;
  /// The target is reached here: the job's other processes learn it at
  /// their next poll. `done` runs once, on any thread.
  virtual void announce_reached(double accuracy,
                                std::function<void()> done) = 0;
  /// Whether the job must stop. `done` runs once, on any thread.
  virtual void poll(std::function<void(signal)> done) = 0;
};

}  // namespace emnist
