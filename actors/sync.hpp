// The sync of a replica: its operations on the parameter store, one at a
// time in the order compute asks for them (a fetch asked for after a push
// sees it), a push queued right before a fetch going out as one
// push_and_fetch. Replies go straight to compute's mailbox, ahead of its
// minibatches.
//
//   sync_session sync(ctx, compute);
//   sync.push(buffer);           -> (pushed, buffer, code, why)
//   sync.fetch(known_version);   -> (fetched, code, version, why)
//   sync.push_and_fetch(b, v);   -> (pushed, ...), then (fetched, ...)
//   sync.restore();              -> (restored, code, why)
//   (code: 0 for success, else 1 + the errc of the failure)
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
// Thread-safe. Operations in flight keep what they use alive (the replica
// context, the queue); a reply to a compute actor that is gone is dropped.
#pragma once

#include <cstdint>
#include <memory>

#include "actors/messages.hpp"
#include "actors/replica_context.hpp"

namespace emnist {

class sync_session {
 public:
  sync_session(std::shared_ptr<replica_context> ctx, caf::actor compute);

  /// Adds push buffer `buffer` (L - B) to the store.
  void push(std::uint32_t buffer);
  /// Fetches the parameters into the fetch buffer; the store may skip the
  /// copy when its version is still `known_version`.
  void fetch(std::uint64_t known_version);
  /// push(buffer), then fetch(known_version), as one store operation.
  void push_and_fetch(std::uint32_t buffer, std::uint64_t known_version);
  /// Writes the restore buffer's blocks that are missing from the store.
  void restore();

 private:
  struct core;
  std::shared_ptr<core> core_;
};

}  // namespace emnist
