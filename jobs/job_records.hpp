// A job's state in its parameter store, beside the parameters: the job's
// metadata, written once at set-up, and each replica's progress, written
// while it trains. Together they let a replica that restarts resume, and
// let a status reader show the job from the store alone. This file has the
// formats (pure: the fuzzer reads them); jobs/job_lifecycle.hpp the
// operations.
//
//   auto text = encode_record(r);
//   auto back = decode_record(text, "replica:3");  // errors name the key
//
// Records are JSON objects, readable with any memcached client, each with
// its "format" and "version": "meta" (the settings every replica must
// share, a hash of them, the parameter count and block size, the job's
// state and the id of its creation), "replica:<id>" (its progress and the
// call that holds it), "driver" (what emnist-setup's calls of the
// replicas are doing, for the status), "reached" and "stop".

#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/replica_record.hpp"
#include "base/expected.hpp"
#include "model/mlp.hpp"
#include "runtime/config/config.hpp"

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
  /// "creating" while emnist-setup writes the initial parameters (joining
  /// then waits), "ready" after; records without one are ready.
  std::string state = "ready";
  /// Of this creation of the job: a job replaced under the same name has
  /// another, so that its old replicas and driver know it is not theirs.
  std::string id;
};

/// The keys of job_metadata::inherited, in their stored order.
const std::vector<std::string>& inherited_job_keys();

/// The metadata record's text read back; errors name `key` and what is
/// wrong.
[[nodiscard]] expected<job_metadata> decode_meta(const std::string& text,
                                                 const std::string& key);

[[nodiscard]] job_metadata describe_job(const job_config& cfg,
                                        const mlp_shape& shape);
[[nodiscard]] std::string encode_meta(const job_metadata& m);

[[nodiscard]] std::string encode_record(const replica_record& r);
/// Errors name `key`, the line and what is wrong.
[[nodiscard]] expected<replica_record> decode_record(const std::string& text,
                                                     const std::string& key);
[[nodiscard]] std::string replica_record_name(std::uint32_t id);
/// The record a replica writes when its evaluation reaches the target, so
/// that the job's replicas in other processes stop too.
inline constexpr const char* reached_record_name = "reached";
/// The record that tells a job's replicas to stop (the job is replaced).
inline constexpr const char* stop_record_name = "stop";

/// What emnist-setup's calls of one replica are doing, as it saves them
/// for the status.
struct slot_note {
  /// "calling" (a call is on its way or running), "waiting" (the last
  /// call could not start the replica: retried after a pause) or
  /// "finished" (the replica is done; no more calls).
  std::string state;
  std::string reason;         ///< why it waits, or why it finished
  std::int64_t since_ms = 0;  ///< Unix ms when it entered the state
  std::uint64_t calls = 0;    ///< calls made so far
};

/// The driver of a job's replicas (emnist-setup), as the status shows it.
struct driver_note {
  std::string job_id;             ///< the creation it drives (meta's id)
  std::string host;               ///< where it runs
  std::int64_t heartbeat_ms = 0;  ///< Unix ms of the write
  std::vector<slot_note> slots;   ///< by replica id
};

inline constexpr const char* driver_record_name = "driver";
[[nodiscard]] std::string encode_driver(const driver_note& d);
/// Errors name `key` and what is wrong.
[[nodiscard]] expected<driver_note> decode_driver(const std::string& text,
                                                  const std::string& key);

/// The metadata record of a job. A running job writes it back when it is
/// lost (add_record), so that status and resume still work after memcached
/// restarted empty.
inline constexpr const char* meta_record_name = "meta";

}  // namespace emnist
