// A job's state in its parameter store, beside the parameters: the job's
// metadata, written once at set-up, and each replica's progress, written
// while it trains. Together they let a replica that restarts resume, and
// let a status reader show the job from the store alone.
//
//   // set-up (emnist simulate, emnist-setup):
//   auto ok = create_job(*store, cfg, shape, initial_params);
//   // a replica joining or resuming (simulate --resume, emnist-train):
//   auto job = join_job(*store, cfg, shape);   // refuses a different config
//   auto mine = read_replica(*store, 3);        // nullopt: start from zero
//   // status:
//   auto status = read_job_status(*store);
//
// Records are JSON objects, readable with any memcached client, each with
// its "format" and "version": "meta" (the settings every replica must
// share, a hash of them, the parameter count and block size) and
// "replica:<id>".
//
// The blocking helpers here wait for the store's completions: call them
// from set-up code or a CLI, never from an actor or an io thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/expected.hpp"
#include "model/mlp.hpp"
#include "runtime/config/config.hpp"
#include "runtime/store/job_store.hpp"

namespace emnist {

/// The settings that make a job what it is, as "key = value" pairs in a
/// fixed order: a replica with any of them different would train another
/// model, on other shards, or stop at another target.
struct job_metadata {
  std::vector<std::pair<std::string, std::string>> entries;
  std::string hash;  ///< of the entries, 16 hex digits
  /// How the job trains, which a replica that joins by name alone takes
  /// (emnist-train ?job=J) and a call may still change: max_epochs, the
  /// evaluation schedule and the sync algorithm (not train.max_seconds,
  /// the function's own timeout). Neither hashed nor checked on joining;
  /// JSON values, as the entries.
  std::vector<std::pair<std::string, std::string>> inherited;
};

/// The keys of job_metadata::inherited, in their stored order.
const std::vector<std::string>& inherited_job_keys();

/// The metadata record's text read back; errors name `key` and what is
/// wrong.
[[nodiscard]] expected<job_metadata> decode_meta(const std::string& text,
                                                 const std::string& key);

[[nodiscard]] job_metadata describe_job(const job_config& cfg,
                                        const mlp_shape& shape);

/// One replica's progress, as the store keeps it.
struct replica_record {
  std::uint32_t id = 0;
  std::uint64_t epochs = 0;       ///< completed passes over its shard
  std::uint64_t steps = 0;        ///< minibatches trained
  std::uint64_t samples = 0;      ///< samples trained
  double accuracy = -1;           ///< the job's last evaluation; -1: none yet
  double best_accuracy = -1;      ///< the best evaluation it has seen
  std::int64_t heartbeat_ms = 0;  ///< Unix time of the write, milliseconds
  bool done = false;              ///< finished (target, epochs or stop)
  bool reached = false;           ///< the target accuracy was reached
  /// Why it stopped, once done: "target", "max_epochs", "max_seconds",
  /// "interrupted" or "failed"; empty while it runs.
  std::string stop;
  /// With stop = "failed": the error that ended it (at most ~500 bytes).
  std::string error;
};

[[nodiscard]] std::string encode_record(const replica_record& r);
/// Errors name `key`, the line and what is wrong.
[[nodiscard]] expected<replica_record> decode_record(const std::string& text,
                                                     const std::string& key);
[[nodiscard]] std::string replica_record_name(std::uint32_t id);
/// The record a replica writes when its evaluation reaches the target, so
/// that the job's replicas in other processes stop too.
inline constexpr const char* reached_record_name = "reached";

/// The metadata record of a job: its name in the store and its value. A
/// running job writes it back when it is lost (add_record), so that status
/// and resume still work after memcached restarted empty.
inline constexpr const char* meta_record_name = "meta";
[[nodiscard]] std::string meta_record_value(const job_config& cfg,
                                            const mlp_shape& shape);

/// Initializes the parameters, writes the metadata and clears the progress
/// records of replicas 0..train.replicas-1 (and of an older job's under
/// the same name). Blocking.
[[nodiscard]] expected<void> create_job(const job_store& store,
                                        const job_config& cfg,
                                        const mlp_shape& shape,
                                        std::span<const float> initial);

/// Checks that the job exists in the store and was set up with the same
/// settings: not_found when it is not there, invalid_argument naming the
/// first key that differs. Blocking.
[[nodiscard]] expected<job_metadata> join_job(record_store& store,
                                              const job_config& cfg,
                                              const mlp_shape& shape);

/// The stored progress of replica `id`, or nullopt when it has none.
/// Blocking.
[[nodiscard]] expected<std::optional<replica_record>> read_replica(
    record_store& store, std::uint32_t id);

/// Everything a status reader shows, from the store alone.
struct job_status {
  job_metadata meta;
  std::uint32_t replicas = 0;  ///< train.replicas of the job
  std::vector<std::optional<replica_record>> records;  ///< by replica id
  double best_accuracy = -1;  ///< over the replicas; -1: none yet
  bool reached = false;
};

/// Reads the metadata and every replica's record. Blocking.
[[nodiscard]] expected<job_status> read_job_status(record_store& store,
                                                   const std::string& job);

}  // namespace emnist
