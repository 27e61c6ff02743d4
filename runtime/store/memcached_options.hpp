// The settings of a memcached store: its servers, the job's key namespace,
// timeouts, and what to do when a server fails. Filled from the job's
// configuration by jobs/store_config.hpp, or by hand in tests.
//
//   memcached_options o;
//   o.servers = {"127.0.0.1:11211"};
//   o.job = "j1";
//   o.on_server_failure = server_failure_policy::failover;
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace emnist {

/// Whether a push reads a block before adding its delta.
enum class push_read_policy {
  /// Only when the block changed since this store last wrote it: the cas
  /// then carries the sum made on the store's own copy, and memcached
  /// refuses it if another writer came in between (the push then reads).
  when_changed,
  always,  ///< gets before every cas
};

/// What to do when a server stays unreachable for `retry_for`.
enum class server_failure_policy {
  fail,      ///< the operation fails, naming the server: the job stops
  failover,  ///< drop the server from the pool; its blocks are restored
             ///< on the others from the replicas' copies
};

struct memcached_options {
  std::vector<std::string> servers{"127.0.0.1:11211"};  ///< "host:port"
  std::string job = "emnist";  ///< key namespace: [A-Za-z0-9_.-], 1-64
  std::chrono::milliseconds timeout{1000};  ///< connect and poll timeout
  /// How long an operation keeps retrying an unreachable server before
  /// `on_server_failure` applies (a restart takes a moment).
  std::chrono::milliseconds retry_for{5000};
  server_failure_policy on_server_failure = server_failure_policy::fail;
  std::size_t block_floats = 65536;  ///< 256 KiB of floats a block
  std::uint64_t job_tag = 0;         ///< written in, and checked on, blocks
  int max_cas_retries = 1000;        ///< conflicts before a push fails
  std::size_t io_threads = 4;        ///< threads running libmemcached calls
  push_read_policy push_reads = push_read_policy::when_changed;
  /// Least time between two writes of a block: the pushes queued
  /// meanwhile share the next. The replicas of this process read its own
  /// view, so only other processes see their pushes that much later.
  std::chrono::milliseconds write_interval{2};
  /// Most pushes of this process a block may hold that memcached has not
  /// stored; past it a push completes only once writes land. While a
  /// server is down or restarting, training then pauses instead of running
  /// on parameters no other replica sees (and failover would drop).
  std::size_t max_unwritten = 64;
  /// Oldest this process's view of a block may be when a replica fetches
  /// from it. The view holds other processes' pushes as of this process's
  /// last write or check of the block; older than this, a fetch first
  /// checks the block (its CAS token, and the value when another process
  /// changed it). Negative: never checked, the view follows this process's
  /// own writes only.
  std::chrono::microseconds max_view_age{2000};
  /// A process that has seen no other process's write to the job for four
  /// times this long is alone on it (four, so that one of many processes
  /// on few cores, whose peers are descheduled for a slice or two, is
  /// not): its view may be this old (instead of
  /// max_view_age), and it writes each block every half of it (instead of
  /// write_interval), when those are longer. The first write of another
  /// process it sees (a write whose CAS finds the block changed, a check,
  /// a read) ends that at once.
  /// A process that runs every replica of its job then pays for neither;
  /// processes that share a job keep their fresh views. 0: never alone.
  std::chrono::milliseconds lone_interval{16};
};

/// A job name, the namespace of its keys: 1-64 of A-Z a-z 0-9 _ . -, not
/// starting with '.' or '-' (no "..", nothing an option parser or a path
/// would take for something else).
[[nodiscard]] inline bool valid_job_name(const std::string& job) {
  if (job.empty() || job.size() > 64 || job[0] == '.' || job[0] == '-') {
    return false;
  }
  for (const char c : job) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

/// What valid_job_name() asks for, for error messages.
inline constexpr const char* job_name_rule =
    "use 1-64 characters of A-Z a-z 0-9 _ . -, not starting with . or -";

}  // namespace emnist
