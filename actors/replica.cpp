// Spawning, linking and stopping the actors of one replica.
#include "actors/replica.hpp"

#include "actors/compute.hpp"
#include "actors/loader.hpp"
#include "actors/sync.hpp"

namespace emnist {

caf::behavior replica_actor(caf::event_based_actor* self,
                            std::shared_ptr<replica_context> ctx,
                            caf::actor coordinator) {
  auto me = caf::actor_cast<caf::actor>(self);
  auto compute = self->spawn<caf::linked + caf::detached>(compute_actor, ctx,
                                                          me, coordinator);
  auto loader =
      self->spawn<caf::linked + caf::detached>(loader_actor, ctx, compute);
  auto sync =
      self->spawn<caf::linked + caf::detached>(sync_actor, ctx, compute);
  auto children = std::vector<caf::actor>{compute, loader, sync};
  return {
      [self, compute, loader, sync](start_atom) {
        self->send(compute, start_atom::value, loader, sync);
      },
      [self, compute](stop_atom) {
        // Ahead of the minibatches queued in compute's mailbox.
        self->send<caf::message_priority::high>(compute, stop_atom::value);
      },
      [self, coordinator, children](done_atom, std::uint32_t id,
                                    std::uint32_t epochs, std::uint64_t samples,
                                    double seconds, double sync_wait_seconds) {
        self->send(coordinator, done_atom::value, id, epochs, samples, seconds,
                   sync_wait_seconds);
        for (const auto& c : children) {
          self->send_exit(c, caf::exit_reason::user_shutdown);
        }
        self->quit();
      },
  };
}

}  // namespace emnist
