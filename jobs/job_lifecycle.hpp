// What happens to a job in its store, from its set-up to its status: the
// blocking operations on its records (jobs/job_records.hpp has their
// formats). They wait for the store's completions: call them from set-up
// code, a CLI or a pool thread, never from an actor or an io thread.
//
//   // emnist-setup: a new job, refused (aborted: 409) when the name is
//   // taken, unless the caller asks to replace it.
//   auto meta = set_up_job(store, cfg, shape, initial, setup_mode::create);
//   // emnist-train, simulate --resume: check the config, then claim a slot.
//   auto joined = join_job(*store.records, cfg, shape);
//   auto claim = claim_replica(*store.records, cfg.sync.job, 3, holder);
//   // status:
//   auto status = read_job_status(*store.records, "j1");
//
// A replica's slot is its progress record: a call claims it by writing the
// record with its own holder, conditionally on the value it read (the
// store's CAS), and every later save of its progress is conditional on the
// last. So two calls never run one replica, and a call whose slot was
// taken over (its process seemed gone) or whose job was replaced learns it
// at its next save.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "jobs/job_records.hpp"
#include "model/mlp.hpp"
#include "runtime/config/config.hpp"
#include "runtime/store/job_store.hpp"

namespace emnist {

/// A replica's record without a heartbeat for this long, not done, is a
/// replica whose process is gone: its slot may be claimed again. Records
/// are written about twice a second.
inline constexpr std::int64_t abandoned_after_ms = 10000;

/// How set_up_job treats a job that is already in the store.
enum class setup_mode {
  /// Refused (aborted), naming the job and its state: a caller cannot
  /// wipe a job by naming it (emnist-setup).
  create,
  /// Set up afresh unless a replica of it runs (`emnist simulate`).
  replace_idle,
  /// Set up afresh; a running one is stopped first (emnist-setup with
  /// "replace": true).
  replace,
};

/// The metadata of `cfg` with a fresh creation id, "ready".
[[nodiscard]] job_metadata new_job_metadata(const job_config& cfg,
                                            const mlp_shape& shape);

/// Sets job cfg.sync.job up: claims the name (atomically: of two set-ups
/// at once, one gets aborted), clears the progress of an older job under
/// it, writes the initial parameters, and marks it ready. With
/// setup_mode::replace, a job that runs is first told to stop and waited
/// for, up to `stop_wait`. Returns the new metadata.
[[nodiscard]] expected<job_metadata> set_up_job(
    const job_store& store, const job_config& cfg, const mlp_shape& shape,
    std::span<const float> initial, setup_mode mode,
    std::chrono::milliseconds stop_wait = std::chrono::seconds(30));

/// Checks that the job exists, is ready and was set up with the same
/// settings: not_found when it is not there, unavailable while it is
/// being set up, invalid_argument naming the first key that differs.
[[nodiscard]] expected<job_metadata> join_job(record_store& store,
                                              const job_config& cfg,
                                              const mlp_shape& shape);

/// A replica's slot, claimed: the progress it goes on from, and the token
/// its next save must present.
struct replica_claim {
  replica_record start;
  std::uint64_t token = 0;
};

/// A text that names this call: host, process and a random part.
[[nodiscard]] std::string new_holder();

/// Claims replica `id` of `job` for `holder`: refused (aborted, naming the
/// holder and its heartbeat's age) while another call runs it. A replica
/// that is done, or whose record went abandoned_after_ms without a
/// heartbeat, may be claimed; with `unfinished_only` (a call that takes
/// the first free replica), not one that finished for good (its target,
/// its passes, or a failure): only one stopped by its time budget or a
/// shutdown.
[[nodiscard]] expected<replica_claim> claim_replica(
    record_store& store, const std::string& job, std::uint32_t id,
    const std::string& holder, bool unfinished_only = false);

/// The stored progress of replica `id`, or nullopt when it has none.
[[nodiscard]] expected<std::optional<replica_record>> read_replica(
    record_store& store, std::uint32_t id);

/// What a job's state reads as, for people: "creating", "running" (a
/// replica has a fresh heartbeat), "finished" (reached, or every replica
/// did its passes), or "idle" (set up, nobody runs it now).
struct job_status;
[[nodiscard]] std::string job_state_of(const job_status& s,
                                       std::int64_t now_ms);

/// Everything a status reader shows, from the store alone.
struct job_status {
  job_metadata meta;
  std::uint32_t replicas = 0;  ///< train.replicas of the job
  std::vector<std::optional<replica_record>> records;  ///< by replica id
  double best_accuracy = -1;  ///< over the replicas; -1: none yet
  bool reached = false;
  /// emnist-setup's calls of the replicas, when a driver runs this job.
  std::optional<driver_note> driver;
};

/// Reads the metadata, every replica's record and the driver's notes.
[[nodiscard]] expected<job_status> read_job_status(record_store& store,
                                                   const std::string& job);

/// The Unix time in milliseconds (heartbeats, ages).
[[nodiscard]] std::int64_t unix_ms();

}  // namespace emnist
