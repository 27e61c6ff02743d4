// The Downpour SGD bookkeeping of one replica, apart from the actor that
// drives it: its parameters, what it has pushed, and when it pushes,
// fetches or waits. Pure (no messages, no threads, no store): the compute
// actor calls it, and tests drive it step by step.
//
//   downpour_state d(settings, parameter_count);
//   send(d.start());                       // the initial fetch
//   ...on (fetched): d.fetched(fetch_buffer, version);
//   while (d.may_train()) {
//     trainer.step(d.parameters(), batch);
//     send(d.step_done());                 // a push, a fetch, both, or none
//   }
//   send(d.unblock());                     // waiting: what would end it
//   ...on (pushed, delta): send(d.pushed(delta));
//
// With L the local parameters and B the store's value as far as this
// replica knows it, the pending delta is L - B: a push sends d = L - B and
// sets B = L, so a push that cannot go yet loses nothing. P sums what was
// pushed after the fetch in flight was asked for; when the fetched S
// arrives, B = S + P and L = B + (L - B_old): fresh parameters, and none of
// this replica's own work lost. With one replica that is exactly plain SGD.
//
// Staleness is counted in the replica's own steps: the parameters a step
// trains on come from a fetch asked for at most `max_staleness` steps
// before it. A replica past the bound waits for that fetch. Counting
// pushes instead let a replica behind a slow store train hundreds of steps
// on old parameters (its pushes coalesce), and six replicas on memcached
// diverged.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

namespace emnist {

struct downpour_settings {
  std::uint64_t push_every = 2;   ///< steps between pushes
  std::uint64_t fetch_every = 2;  ///< steps between fetches
  /// Steps a replica may train past the fetch behind its parameters; -1:
  /// no bound.
  std::int64_t max_staleness = -1;
  /// A push due while every delta buffer is in flight: true trains on (the
  /// next push carries the steps since the last), false waits for a buffer.
  bool coalesce = true;
  /// Coalescing is bounded: past this many steps since its last push the
  /// replica waits for the buffer. A store that holds pushes (memcached
  /// with a server down: sync.max_unwritten) then pauses training rather
  /// than letting it run on parameters no other replica sees.
  std::uint64_t max_coalesced_steps = 64;
  std::size_t push_buffers = 1;  ///< deltas in flight at most
};

/// A delta on its way to the store, owned by whoever holds the pointer.
using delta_buffer = std::shared_ptr<std::vector<float>>;

/// What the replica should ask the store for now.
struct store_request {
  enum class kind { none, push, fetch, push_and_fetch };
  kind what = kind::none;
  /// push: the delta written (L - B); it comes back with pushed().
  delta_buffer delta;
  /// fetch: the store version the replica has (the store may then skip the
  /// copy), or mixed_version to always copy.
  std::uint64_t known_version = 0;

  bool pushes() const {
    return what == kind::push || what == kind::push_and_fetch;
  }
  bool fetches() const {
    return what == kind::fetch || what == kind::push_and_fetch;
  }
};

class downpour_state {
 public:
  /// The store's version for "unknown, always copy".
  static constexpr std::uint64_t mixed_version = ~std::uint64_t{0};

  /// Owns settings.push_buffers delta buffers of `parameters` floats; a
  /// push hands one out, pushed() takes it back. `steps` is where a resumed
  /// replica's step count goes on from.
  downpour_state(const downpour_settings& settings, std::size_t parameters,
                 std::uint64_t steps = 0);

  /// L: what training updates in place.
  [[nodiscard]] std::span<float> parameters() { return local_; }
  /// B: everything this replica has pushed, as far as it knows (what a
  /// restore writes back).
  [[nodiscard]] std::span<const float> base() const { return base_; }

  /// The first fetch; training waits for it.
  [[nodiscard]] store_request start();

  /// Whether the next step may train now: the initial parameters are in,
  /// they are fresh enough, and a due push went out (coalescing: or fewer
  /// than max_coalesced_steps have been trained since the last push).
  [[nodiscard]] bool may_train() const;

  /// Counts a trained step; what to send the store.
  [[nodiscard]] store_request step_done();

  /// While !may_train(): what would end the wait (a fetch, with the
  /// pending push when a buffer is free), or none when that is already
  /// under way.
  [[nodiscard]] store_request unblock();

  /// A delta buffer is back (its push succeeded or failed): a push that
  /// waited for it goes now.
  [[nodiscard]] store_request pushed(delta_buffer buffer);

  /// The fetch completed: `fetched` holds the store's parameters unless the
  /// store answered `version` == the known version ("not modified").
  void fetched(std::span<const float> fetched, std::uint64_t version);
  /// The fetch failed: nothing was applied.
  void fetch_failed();
  /// The store lost its versions (blocks restored): the next fetch copies.
  void forget_version() { have_version_ = false; }

  /// Stopping: the push of what is pending, if a buffer is free.
  [[nodiscard]] store_request flush();
  /// Nothing pending, nothing in flight.
  [[nodiscard]] bool idle() const;

  [[nodiscard]] std::uint64_t steps() const { return steps_; }
  [[nodiscard]] bool fetch_in_flight() const { return fetch_in_flight_; }
  /// Steps since the fetch behind the parameters was asked for.
  [[nodiscard]] std::uint64_t staleness() const { return steps_ - fresh_from_; }

 private:
  [[nodiscard]] bool too_stale() const;
  /// Pushes L - B, with a fetch after it when `then_fetch` (or one is
  /// wanted); nullopt when every buffer is in flight.
  [[nodiscard]] std::optional<store_request> push(bool then_fetch);
  [[nodiscard]] store_request fetch();
  /// The bookkeeping of a fetch asked for now; returns the version to
  /// hand the store.
  std::uint64_t begin_fetch();
  void apply(std::span<const float> fetched);

  downpour_settings settings_;
  std::vector<float> local_;   ///< L
  std::vector<float> base_;    ///< B
  std::vector<float> pushed_;  ///< P, valid while pushed_valid_
  bool pushed_valid_ = false;
  std::vector<delta_buffer> free_buffers_;

  bool started_ = false;   ///< the initial fetch arrived
  bool push_due_ = false;  ///< a push waits for a free buffer
  /// A fetch fell due while the push waited: it goes out with that push
  /// (alone it would read the whole model once more).
  bool fetch_wanted_ = false;
  bool fetch_in_flight_ = false;
  // Store versions (pushes applied), to tell whether a fetched copy holds
  // anything this replica does not already have.
  bool have_version_ = false;
  std::uint64_t known_version_ = 0;
  std::uint64_t version_at_request_ = 0;
  std::uint64_t pushes_since_request_ = 0;

  std::uint64_t steps_ = 0;
  std::uint64_t steps_since_push_ = 0;
  std::uint64_t request_steps_ =
      0;                          ///< steps when the fetch in flight was asked
  std::uint64_t fresh_from_ = 0;  ///< ... and when the one behind L was
};

}  // namespace emnist
