// The job ledger (actors/job_ledger.hpp) over a job's records in its store:
// the records of jobs/job_records.hpp, written and read without blocking
// (completions come on the store's threads).
//
//   auto ledger = std::make_shared<store_ledger>(store.records, meta, holder,
//                                                claims, spans_processes);
//   setup.ledger = ledger;   // the coordinator saves progress through it
//
// Each replica's record is its slot (jobs/job_lifecycle.hpp): a save goes
// only if the record still holds this call's last save, so a replica whose
// slot another call took over, or whose job was replaced, learns it here
// and stops instead of overwriting the other's progress.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "actors/job_ledger.hpp"
#include "jobs/job_records.hpp"
#include "runtime/store/record_store.hpp"

namespace emnist {

class store_ledger final : public job_ledger,
                           public std::enable_shared_from_this<store_ledger> {
 public:
  /// `meta`: the job's metadata, written back with the progress whenever
  /// it is missing (a server restarted empty). `holder`: the call that
  /// claimed the replicas; `tokens`: each replica's claim (its record's
  /// token then). `spans_processes`: some of the job's replicas run in
  /// other processes, which learn of the target through the store.
  store_ledger(std::shared_ptr<record_store> records, job_metadata meta,
               std::string holder,
               std::map<std::uint32_t, std::uint64_t> tokens,
               bool spans_processes);

  void save(std::vector<replica_record> records, saved done) override;
  void announce_reached(double accuracy, std::function<void()> done) override;
  void poll(std::function<void(signal)> done) override;

 private:
  struct save_round;
  /// One replica's record, conditional on its token; a record that went
  /// missing is written back unless its job was replaced meanwhile.
  void save_one(std::shared_ptr<save_round> round, replica_record r);
  void restore_one(std::shared_ptr<save_round> round, replica_record r);
  /// After a conditional write was refused: the record is still this
  /// call's when it names this holder (its own write applied, its reply
  /// lost), else the slot is lost.
  void check_holder(std::shared_ptr<save_round> round, std::uint32_t id);

  std::shared_ptr<record_store> records_;
  job_metadata meta_;
  std::string meta_text_;
  std::string holder_;
  bool spans_processes_;
  std::mutex mutex_;
  std::map<std::uint32_t, std::uint64_t> tokens_;  ///< guarded by mutex_
};

}  // namespace emnist
