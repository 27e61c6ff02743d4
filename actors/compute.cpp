// Training steps and the Downpour delta bookkeeping of one replica.
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
  std::shared_ptr<replica_context> ctx;
  caf::actor replica, coordinator, loader;
  std::unique_ptr<sync_session> sync;
  std::unique_ptr<mlp_trainer> trainer;
  std::unique_ptr<downpour_state> downpour;
  /// Minibatches waiting to be trained: more than one while it waits.
  std::deque<std::uint32_t> held;
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
  std::uint64_t start_steps = 0;
  std::uint32_t epochs_done = 0;
  float learning_rate = 0;
  clock_type::time_point first_step{};

  void on_batch(caf::event_based_actor* self, std::uint32_t index) {
    if (stopped) return;
    held.push_back(index);
    drain(self);
  }

  /// Trains the minibatches that are waiting, as far as the Downpour
  /// bookkeeping lets it (sync.max_staleness, sync.push_backlog).
  void drain(caf::event_based_actor* self) {
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
      const std::uint32_t next = held.front();
      held.pop_front();
      train(self, next);
    }
  }

  void train(caf::event_based_actor* self, std::uint32_t index) {
    if (downpour->steps() == start_steps) first_step = clock_type::now();
    const batch_slot& slot = ctx->slots[index];
    trainer->step(downpour->parameters(), slot.x, slot.labels.data(),
                  learning_rate);
    const bool epoch_end = slot.last_of_epoch;
    self->send(loader, slot_atom::value, index);
    if (epoch_end) ++epochs_done;
    send(downpour->step_done());
    const auto steps = downpour->steps();
    if (steps % static_cast<std::uint64_t>(ctx->cfg.actors.report_every) == 0 ||
        epoch_end) {
      self->send(coordinator, progress_atom::value, ctx->id, steps,
                 epochs_done);
    }
  }

  /// Hands a store operation to sync.
  void send(const store_request& r) {
    switch (r.what) {
      case store_request::kind::none:
        return;
      case store_request::kind::push:
        sync->push(r.buffer);
        return;
      case store_request::kind::fetch:
        sync->fetch(r.known_version);
        return;
      case store_request::kind::push_and_fetch:
        sync->push_and_fetch(r.buffer, r.known_version);
        return;
    }
  }

  /// Once stopping: push what is pending, then report when sync is idle.
  void try_finish(caf::event_based_actor* self) {
    const bool finishing = stopped || (loader_ended && held.empty());
    if (!finishing || done_sent) return;
    send(downpour->flush());
    if (!downpour->idle() || restore_in_flight) return;
    done_sent = true;
    const auto steps = downpour->steps();
    const double seconds =
        steps == start_steps
            ? 0.0
            : std::chrono::duration<double>(clock_type::now() - first_step)
                  .count();
    self->send(
        replica, done_atom::value, ctx->id, epochs_done,
        static_cast<std::uint64_t>((steps - start_steps) * ctx->batch_size()),
        seconds, sync_wait_seconds, eval_wait_seconds);
  }

  /// A block missing from the store (evicted, or its server restarted
  /// empty) is written back from B: everything this replica has pushed, as
  /// far as it knows. What it has not pushed yet stays pending (L - B);
  /// other errors stop the job.
  void on_store_error(caf::event_based_actor* self, std::int32_t code,
                      const std::string& why) {
    if (code != 1 + static_cast<std::int32_t>(errc::not_found)) {
      fail(self, why);
      return;
    }
    downpour->forget_version();  // the store's versions restart
    if (restore_in_flight) return;
    restore_in_flight = true;
    const auto base = downpour->base();
    std::copy(base.begin(), base.end(), ctx->restore_buffer.begin());
    sync->restore();
  }

  void fail(caf::event_based_actor* self, const std::string& why) {
    self->send(coordinator, failed_atom::value,
               "replica " + std::to_string(ctx->id) + ": " + why);
  }
};

}  // namespace

caf::behavior compute_actor(caf::event_based_actor* self,
                            std::shared_ptr<replica_context> ctx,
                            caf::actor replica, caf::actor coordinator) {
  auto st = std::make_shared<compute_state>();
  st->trainer = std::make_unique<mlp_trainer>(
      ctx->shape, ctx->batch_size(), static_cast<float>(ctx->cfg.model.dropout),
      seed_for(static_cast<std::uint64_t>(ctx->cfg.model.seed), ctx->id,
               rng_stream::dropout));
  downpour_settings settings;
  settings.push_every = static_cast<std::uint64_t>(ctx->cfg.sync.push_every);
  settings.fetch_every = static_cast<std::uint64_t>(ctx->cfg.sync.fetch_every);
  settings.max_staleness = ctx->cfg.sync.max_staleness;
  settings.coalesce = ctx->cfg.sync.push_backlog == "coalesce";
  st->downpour = std::make_unique<downpour_state>(
      settings, ctx->shape.size(), ctx->push_buffers, ctx->start.steps);
  st->learning_rate = static_cast<float>(ctx->cfg.train.learning_rate);
  st->start_steps = ctx->start.steps;
  st->epochs_done = static_cast<std::uint32_t>(ctx->start.epochs);
  st->ctx = std::move(ctx);
  st->replica = std::move(replica);
  st->coordinator = std::move(coordinator);
  return {
      [self, st](start_atom, caf::actor loader) {
        st->loader = std::move(loader);
        st->sync = std::make_unique<sync_session>(
            st->ctx, caf::actor_cast<caf::actor>(self));
        // A stop sent right after the start overtakes it (stops are urgent):
        // compute has reported done already, so it must not start a fetch
        // that would write into buffers its replica is about to free.
        if (st->stopped) return;
        // Start from the store's parameters, like every later fetch; the
        // loader starts once they are in.
        st->send(st->downpour->start());
      },
      [self, st](batch_atom, std::uint32_t index) {
        st->on_batch(self, index);
      },
      [self, st](pushed_atom, std::uint32_t index, std::int32_t code,
                 const std::string& why) {
        if (code != 0) st->on_store_error(self, code, why);
        st->send(st->downpour->pushed(index));
        st->drain(self);
        st->try_finish(self);
      },
      [self, st](fetched_atom, std::int32_t code, std::uint64_t version,
                 const std::string& why) {
        if (code != 0) {
          st->downpour->fetch_failed();
          if (!st->loader_started) {
            st->fail(self, why);  // no parameters yet: nothing to restore
            return;
          }
          st->on_store_error(self, code, why);
          st->drain(self);  // a staleness wait asks for the fetch again
          st->try_finish(self);
          return;
        }
        st->downpour->fetched(st->ctx->fetch_buffer, version);
        if (!st->loader_started) {
          // The initial parameters are in: minibatches may flow now.
          st->loader_started = true;
          self->send(st->loader, start_atom::value);
        }
        st->drain(self);
        st->try_finish(self);
      },
      [self, st](restored_atom, std::int32_t code, const std::string& why) {
        st->restore_in_flight = false;
        if (code != 0) st->fail(self, "restoring missing blocks: " + why);
        st->drain(self);
        st->try_finish(self);
      },
      [self, st](hold_atom) {
        if (st->eval_hold) return;
        st->eval_hold = true;
        st->hold_started = clock_type::now();
      },
      [self, st](resume_atom) {
        if (!st->eval_hold) return;
        st->eval_hold = false;
        st->eval_wait_seconds +=
            std::chrono::duration<double>(clock_type::now() - st->hold_started)
                .count();
        st->drain(self);
        st->try_finish(self);
      },
      [self, st](end_atom) {
        st->loader_ended = true;
        st->try_finish(self);
      },
      [self, st](stop_atom) {
        st->stopped = true;
        st->try_finish(self);
      },
  };
}

}  // namespace emnist
