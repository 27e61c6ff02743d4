// Training steps and the messages around the Downpour bookkeeping.
#include "actors/compute.hpp"

#include <algorithm>
#include <chrono>
#include <deque>

#include "actors/downpour_state.hpp"
#include "actors/sync.hpp"
#include "model/rng.hpp"

namespace emnist {
namespace {

using clock_type = std::chrono::steady_clock;

struct compute_state {
  static constexpr const char* name = "compute";
  compute_setup setup;
  loader_actor loader;
  std::unique_ptr<sync_session> sync;
  std::unique_ptr<mlp_trainer> trainer;
  std::unique_ptr<downpour_state> downpour;
  params_buffer fetch_buffer;    ///< the store's parameters, fetched
  params_buffer restore_buffer;  ///< B, to write back missing blocks
  /// Minibatches waiting to be trained: more than one while it waits.
  std::deque<batch_ptr> held;
  bool waiting = false;  ///< minibatches wait for the store
  clock_type::time_point wait_started{};
  double sync_wait_seconds = 0;
  bool eval_hold = false;  ///< (hold): an evaluation is overdue
  clock_type::time_point hold_started{};
  double eval_wait_seconds = 0;
  bool restore_in_flight = false;
  bool loader_started = false;
  bool loader_ended = false;  ///< (end): train what is held, then finish
  bool stopped = false;       ///< (stop): finish now
  bool done_sent = false;
  std::uint32_t epochs_done = 0;
  std::uint64_t pushes_accepted = 0;  ///< worker_summary::pushes
  clock_type::time_point first_step{};

  using pointer = compute_actor::stateful_pointer<compute_state>;

  void on_batch(pointer self, batch_ptr batch) {
    if (stopped) {
      self->send(loader, slot_atom::value, std::move(batch));
      return;
    }
    held.push_back(std::move(batch));
    drain(self);
  }

  /// Trains the minibatches that are waiting, as far as the Downpour
  /// bookkeeping lets it (sync.max_staleness, sync.push_backlog).
  void drain(pointer self) {
    while (!held.empty() && !stopped && !eval_hold) {
      if (!downpour->may_train()) {
        if (!waiting) {
          waiting = true;
          wait_started = clock_type::now();
        }
        send(downpour->unblock());
        return;
      }
      if (waiting) {
        waiting = false;
        sync_wait_seconds +=
            std::chrono::duration<double>(clock_type::now() - wait_started)
                .count();
      }
      batch_ptr next = std::move(held.front());
      held.pop_front();
      train(self, std::move(next));
    }
  }

  void train(pointer self, batch_ptr batch) {
    if (downpour->steps() == setup.start_steps) first_step = clock_type::now();
    trainer->step(downpour->parameters(), batch->x, batch->labels.data(),
                  setup.settings.learning_rate);
    const bool epoch_end = batch->last_of_epoch;
    self->send(loader, slot_atom::value, std::move(batch));
    if (epoch_end) ++epochs_done;
    send(downpour->step_done());
    const auto steps = downpour->steps();
    if (steps % setup.settings.report_every == 0 || epoch_end) {
      self->send(setup.coordinator, progress_atom::value, setup.replica, steps,
                 epochs_done);
    }
  }

  /// Hands a store operation to sync.
  void send(const store_request& r) {
    switch (r.what) {
      case store_request::kind::none:
        return;
      case store_request::kind::push:
        sync->push(r.delta);
        return;
      case store_request::kind::fetch:
        sync->fetch(fetch_buffer, r.known_version);
        return;
      case store_request::kind::push_and_fetch:
        sync->push_and_fetch(r.delta, fetch_buffer, r.known_version);
        return;
    }
  }

  /// Once stopping: push what is pending, then report when sync is idle.
  void try_finish(pointer self) {
    const bool finishing = stopped || (loader_ended && held.empty());
    if (!finishing || done_sent) return;
    send(downpour->flush());
    if (!downpour->idle() || restore_in_flight) return;
    done_sent = true;
    const auto steps = downpour->steps();
    worker_summary w;
    w.id = setup.replica;
    w.iterations = epochs_done;
    w.samples = (steps - setup.start_steps) * setup.settings.batch_size;
    w.seconds =
        steps == setup.start_steps
            ? 0.0
            : std::chrono::duration<double>(clock_type::now() - first_step)
                  .count();
    w.pushes = pushes_accepted;
    w.sync_wait_seconds = sync_wait_seconds;
    w.eval_wait_seconds = eval_wait_seconds;
    self->send(setup.supervisor, done_atom::value, w);
  }

  /// A block missing from the store (evicted, or its server restarted
  /// empty) is written back from B: everything this replica has pushed, as
  /// far as it knows. What it has not pushed yet stays pending (L - B);
  /// other errors stop the job, with their code.
  void on_store_error(pointer self, const error& e) {
    if (e.code != errc::not_found) {
      fail(self, e);
      return;
    }
    downpour->forget_version();  // the store's versions restart
    if (restore_in_flight) return;
    restore_in_flight = true;
    const auto base = downpour->base();
    std::copy(base.begin(), base.end(), restore_buffer->begin());
    sync->restore(restore_buffer);
  }

  void fail(pointer self, error e) {
    e.message = "replica " + std::to_string(setup.replica) + ": " + e.message;
    self->send(setup.coordinator, failed_atom::value, std::move(e));
  }
};

compute_actor::behavior_type compute(
    compute_actor::stateful_pointer<compute_state> self, compute_setup setup) {
  auto& init = self->state;
  init.setup = std::move(setup);
  const auto& s = init.setup.settings;
  const std::size_t n = init.setup.shape.size();
  init.trainer = std::make_unique<mlp_trainer>(
      init.setup.shape, s.batch_size, s.dropout,
      seed_for(s.seed, init.setup.replica, rng_stream::dropout));
  init.downpour =
      std::make_unique<downpour_state>(s.downpour, n, init.setup.start_steps);
  init.fetch_buffer = std::make_shared<std::vector<float>>(n);
  init.restore_buffer = std::make_shared<std::vector<float>>(n);
  init.epochs_done = static_cast<std::uint32_t>(init.setup.start_epochs);
  return {
      [self](start_atom, loader_actor loader) {
        auto& st = self->state;
        st.loader = std::move(loader);
        // A stop sent right after the start overtakes it (stops are
        // urgent): compute has reported done already.
        if (st.stopped) return;
        st.sync = std::make_unique<sync_session>(
            st.setup.store, caf::actor_cast<compute_actor>(self));
        // Start from the store's parameters, like every later fetch; the
        // loader starts once they are in.
        st.send(st.downpour->start());
      },
      [self](batch_atom, batch_ptr batch) {
        self->state.on_batch(self, std::move(batch));
      },
      [self](pushed_atom, delta_ptr delta, outcome failure) {
        auto& st = self->state;
        if (failure) {
          st.on_store_error(self, *failure);
        } else {
          ++st.pushes_accepted;
        }
        st.send(st.downpour->pushed(std::move(delta)));
        st.drain(self);
        st.try_finish(self);
      },
      [self](fetched_atom, std::uint64_t version, outcome failure) {
        auto& st = self->state;
        if (failure) {
          st.downpour->fetch_failed();
          if (!st.loader_started) {
            st.fail(self, *failure);  // no parameters yet: nothing to restore
            return;
          }
          st.on_store_error(self, *failure);
          st.drain(self);  // a staleness wait asks for the fetch again
          st.try_finish(self);
          return;
        }
        st.downpour->fetched(*st.fetch_buffer, version);
        if (!st.loader_started) {
          // The initial parameters are in: minibatches may flow now.
          st.loader_started = true;
          self->send(st.loader, start_atom::value);
        }
        st.drain(self);
        st.try_finish(self);
      },
      [self](restored_atom, outcome failure) {
        auto& st = self->state;
        st.restore_in_flight = false;
        if (failure) {
          failure->message = "restoring missing blocks: " + failure->message;
          st.fail(self, *failure);
        }
        st.drain(self);
        st.try_finish(self);
      },
      [self](hold_atom) {
        auto& st = self->state;
        if (st.eval_hold) return;
        st.eval_hold = true;
        st.hold_started = clock_type::now();
      },
      [self](resume_atom) {
        auto& st = self->state;
        if (!st.eval_hold) return;
        st.eval_hold = false;
        st.eval_wait_seconds +=
            std::chrono::duration<double>(clock_type::now() - st.hold_started)
                .count();
        st.drain(self);
        st.try_finish(self);
      },
      [self](end_atom) {
        self->state.loader_ended = true;
        self->state.try_finish(self);
      },
      [self](stop_atom) {
        auto& st = self->state;
        st.stopped = true;
        // What is held goes back: the loader owns it again.
        for (auto& b : st.held) self->send(st.loader, slot_atom::value, b);
        st.held.clear();
        st.try_finish(self);
      },
  };
}

}  // namespace

compute_actor spawn_compute(caf::local_actor& parent, compute_setup setup) {
  return parent.spawn<caf::linked>(compute, std::move(setup));
}

}  // namespace emnist
