// Spawning, linking and stopping the actors of one replica.
#include "actors/replica.hpp"

#include "actors/compute.hpp"
#include "actors/loader.hpp"

namespace emnist {
namespace {

struct replica_state {
  static constexpr const char* name = "replica";
  // Not an aggregate: CAF would try to build it from the actor pointer.
  replica_state() = default;
  coordinator_actor coordinator;
  compute_actor compute;
  loader_actor loader;
};

replica_actor::behavior_type replica(
    replica_actor::stateful_pointer<replica_state> self, replica_setup setup) {
  auto& init = self->state;
  init.coordinator = setup.coordinator;
  compute_setup c;
  c.replica = setup.id;
  c.settings = setup.settings.compute;
  c.shape = setup.shape;
  c.store = setup.store;
  c.start_steps = setup.start.steps;
  c.start_epochs = setup.start.epochs;
  c.supervisor = caf::actor_cast<replica_actor>(self);
  c.coordinator = setup.coordinator;
  init.compute = spawn_compute(*self, std::move(c));
  loader_setup l;
  l.replica = setup.id;
  l.settings = setup.settings.loader;
  l.shard = setup.shard;
  l.start_epochs = setup.start.epochs;
  l.compute = init.compute;
  init.loader = spawn_loader(*self, std::move(l));
  return {
      [self](start_atom) {
        self->send(self->state.compute, start_atom::value, self->state.loader);
      },
      // Ahead of the minibatches queued in compute's mailbox.
      [self](hold_atom) {
        self->send<caf::message_priority::high>(self->state.compute,
                                                hold_atom::value);
      },
      [self](resume_atom) {
        self->send<caf::message_priority::high>(self->state.compute,
                                                resume_atom::value);
      },
      [self](stop_atom) {
        self->send<caf::message_priority::high>(self->state.compute,
                                                stop_atom::value);
      },
      [self](done_atom, worker_summary summary) {
        auto& st = self->state;
        self->send(st.coordinator, done_atom::value, summary);
        self->send_exit(st.compute, caf::exit_reason::user_shutdown);
        self->send_exit(st.loader, caf::exit_reason::user_shutdown);
        self->quit();
      },
  };
}

}  // namespace

replica_actor spawn_replica(caf::local_actor& parent, replica_setup setup) {
  return parent.spawn<caf::linked>(replica, std::move(setup));
}

}  // namespace emnist
