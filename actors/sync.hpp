// The sync of a replica: its operations on the parameter store, one at a
// time in the order compute asks for them (a fetch asked for after a push
// sees it), a push queued right before a fetch going out as one
// push_and_fetch. Replies go straight to compute's mailbox, ahead of its
// minibatches, with the buffers they used.
//
//   sync_session sync(store, compute);
//   sync.push(delta);                 -> (pushed, delta, outcome)
//   sync.fetch(into, known_version);  -> (fetched, version, outcome)
//   sync.push_and_fetch(delta, into, known)  -> (pushed, ...), (fetched, ...)
//   sync.restore(params);             -> (restored, outcome)
//
// It is an actor in the plain sense (it owns its queue and handles one
// operation at a time) but not a CAF actor with a thread: it runs on
// compute's thread when it starts an operation and on the store's thread
// when one completes. With a thread of its own, every push and every reply
// waited for that thread to be scheduled; with six replicas on two cores
// that took a push's round trip from 0.07 ms in the store to 3 ms (median)
// and 16 ms (p90) as compute saw it, and the replicas drifted apart. The
// embedded store now completes a push within compute's own step.
//
// Thread-safe. An operation in flight holds the buffers it uses (shared
// pointers) and the queue; a reply to a compute actor that is gone is
// dropped.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "actors/messages.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

/// The parameters a fetch writes, or a restore reads.
using params_buffer = std::shared_ptr<std::vector<float>>;

class sync_session {
 public:
  sync_session(std::shared_ptr<parameter_store> store, compute_actor compute);

  /// Adds `delta` (L - B) to the store.
  void push(delta_ptr delta);
  /// Fetches the parameters into `into`; the store may skip the copy when
  /// its version is still `known_version`.
  void fetch(params_buffer into, std::uint64_t known_version);
  /// push(delta), then fetch(into, known_version), as one store operation.
  void push_and_fetch(delta_ptr delta, params_buffer into,
                      std::uint64_t known_version);
  /// Writes the blocks of `params` that are missing from the store.
  void restore(params_buffer params);

 private:
  struct core;
  std::shared_ptr<core> core_;
};

}  // namespace emnist
