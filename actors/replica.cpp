// Spawning, linking and stopping the actors of one replica.
#include "actors/replica.hpp"

#include "actors/compute.hpp"
#include "actors/loader.hpp"

namespace emnist {

caf::behavior replica_actor(caf::event_based_actor* self,
                            std::shared_ptr<replica_context> ctx,
                            caf::actor coordinator) {
  auto me = caf::actor_cast<caf::actor>(self);
  auto compute = self->spawn<caf::linked>(compute_actor, ctx, me, coordinator);
  auto loader = self->spawn<caf::linked>(loader_actor, ctx, compute);
  auto children = std::vector<caf::actor>{compute, loader};
  return {
      [self, compute, loader](start_atom) {
        self->send(compute, start_atom::value, loader);
      },
      [self, compute](hold_atom) {
        self->send<caf::message_priority::high>(compute, hold_atom::value);
      },
      [self, compute](resume_atom) {
        self->send<caf::message_priority::high>(compute, resume_atom::value);
      },
      [self, compute](stop_atom) {
        // Ahead of the minibatches queued in compute's mailbox.
        self->send<caf::message_priority::high>(compute, stop_atom::value);
      },
      [self, coordinator, children](done_atom, std::uint32_t id,
                                    std::uint32_t epochs, std::uint64_t samples,
                                    double seconds, double sync_wait_seconds,
                                    double eval_wait_seconds) {
        self->send(coordinator, done_atom::value, id, epochs, samples, seconds,
                   sync_wait_seconds, eval_wait_seconds);
        for (const auto& c : children) {
          self->send_exit(c, caf::exit_reason::user_shutdown);
        }
        self->quit();
      },
  };
}

}  // namespace emnist
