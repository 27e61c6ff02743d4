// The parameter store of a job: the interface that the embedded store and
// the memcached store implement, and what a replica's sync and the
// evaluator talk to. (The job's small records beside the parameters have an
// interface of their own: runtime/store/record_store.hpp.)
//
//   auto store = make_memory_store(shape.size(), block_floats);
//   store->initialize(initial);                      // job set-up, once
//   store->push(delta, [](expected<void> r) { ... });   // params += delta
//   store->fetch(out, known, [](expected<std::uint64_t> v) { ... });  // out =
//   params
//
// Parameters are kept as fixed-size blocks of floats. push() adds a delta
// atomically per block: concurrent pushes from several replicas are never
// lost. fetch() copies the parameters; each block is a consistent version,
// though different blocks may reflect different pushes (as in Downpour).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "base/expected.hpp"

namespace emnist {

/// Counters of a store, summed over all callers.
struct store_stats {
  std::uint64_t pushes = 0;          ///< push() calls
  std::uint64_t pushes_applied = 0;  ///< pushes whose every block was added
  std::uint64_t fetches = 0;
  std::uint64_t bytes_sent = 0;       ///< from the replicas to the store
  std::uint64_t bytes_received = 0;   ///< from the store to the replicas
  std::uint64_t cas_retries = 0;      ///< compare-and-swap conflicts retried
  std::uint64_t blocks_restored = 0;  ///< missing blocks written back
  std::uint64_t fetches_not_modified = 0;  ///< fetches with nothing new
  std::uint64_t servers_failed_over = 0;   ///< servers dropped from a pool
  /// Blocks a push added to without reading them first: they still held
  /// what this store had written (sync.push_reads = "when_changed").
  std::uint64_t push_reads_skipped = 0;
  /// Block deltas that went to the store inside another push's write: the
  /// replicas of one process pushing the same block at once share a write.
  std::uint64_t push_blocks_combined = 0;
  /// Pushes that waited for memcached to store this process's backlog
  /// (sync.max_unwritten): an outage or a very slow server.
  std::uint64_t pushes_held = 0;
  /// Fetches served from this process's view of the parameters
  /// (memcached's value after its last write, plus what it pushed since).
  std::uint64_t fetches_local = 0;
  /// Checks of this process's view of a block against memcached (a fetch
  /// found it older than sync.max_view_age_ms), and those that found
  /// another process's pushes and read the block.
  std::uint64_t views_checked = 0;
  std::uint64_t views_refreshed = 0;
  /// Calls that found a server unreachable (refused, timed out, busy) and
  /// were tried again: on a healthy local server under any load, zero.
  std::uint64_t server_retries = 0;
};

/// What a store counted between two readings `before` and `after`: the
/// share of one job in a store that several jobs of a process use.
[[nodiscard]] store_stats stats_between(const store_stats& before,
                                        const store_stats& after);

class parameter_store {
 public:
  /// Called once when an operation has completed or failed, on a thread
  /// of the store's choosing (the caller's own for the embedded store).
  using completion = std::function<void(expected<void>)>;
  /// Like completion, with the version of the fetched parameters: the
  /// number of pushes applied to them, or mixed_version when the copy
  /// straddles a concurrent push.
  using fetch_completion = std::function<void(expected<std::uint64_t>)>;
  static constexpr std::uint64_t mixed_version = ~std::uint64_t{0};

  virtual ~parameter_store() = default;

  /// Number of floats stored.
  virtual std::size_t size() const = 0;
  /// "memory" or "memcached".
  virtual std::string kind() const = 0;

  /// Sets the parameters (job set-up). Blocking; not concurrent with
  /// push() or fetch().
  [[nodiscard]] virtual expected<void> initialize(
      std::span<const float> params) = 0;

  /// Adds `delta` (size() floats) to the parameters. `delta` must stay
  /// alive and unchanged until `done` runs. Thread-safe.
  virtual void push(std::span<const float> delta, completion done) = 0;

  /// Copies the parameters into `out` (size() floats), valid once `done`
  /// runs with success. `out` must stay alive until then. Thread-safe.
  /// A fetch issued after a push completed sees that push. When the
  /// store's version still equals `known_version`, the copy may be skipped
  /// ("not modified"): `done` then gets known_version and `out` is
  /// unchanged. Pass mixed_version to always copy.
  virtual void fetch(std::span<float> out, std::uint64_t known_version,
                     fetch_completion done) = 0;

  /// push(delta) and then fetch(out), in one operation where the store
  /// can: the memcached store reads every block to add the delta anyway,
  /// so the sums it writes are the fresh parameters, and no separate
  /// fetch is needed. `done` gets the fetch's version (mixed_version when
  /// unknown). On failure neither is known to have happened completely.
  virtual void push_and_fetch(std::span<const float> delta,
                              std::span<float> out, fetch_completion done) {
    push(delta, [this, out, done = std::move(done)](expected<void> r) {
      if (!r) return done(r.error());
      fetch(out, mixed_version, done);
    });
  }

  /// Writes the blocks of `params` that are missing from the store (a
  /// memcached server evicted them, or restarted empty); never overwrites
  /// a block that exists, so the first replica to restore wins and the
  /// others' deltas then add to it. `params` must stay alive until `done`.
  /// Restored blocks get a new version that no replica expects.
  virtual void restore(std::span<const float> params, completion done) = 0;

  virtual store_stats stats() const = 0;
};

}  // namespace emnist
