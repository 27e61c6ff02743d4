// Training steps and the Downpour delta bookkeeping of one replica.
#include "actors/compute.hpp"

#include <chrono>
#include <deque>

#include "model/rng.hpp"
#include "runtime/thread_priority.hpp"

namespace emnist {
namespace {

using clock_type = std::chrono::steady_clock;

struct compute_state {
  std::shared_ptr<replica_context> ctx;
  caf::actor replica, coordinator, loader, sync;
  std::unique_ptr<mlp_trainer> trainer;
  std::vector<float> local;   ///< L
  std::vector<float> base;    ///< B
  std::vector<float> pushed;  ///< P, valid while pushed_valid
  bool pushed_valid = false;
  std::vector<std::uint32_t> free_push_buffers;
  /// Minibatches waiting to be trained: more than one while blocked().
  std::deque<std::uint32_t> held;
  bool push_due = false;  ///< a push waits for a free delta buffer
  /// A fetch fell due while the push waited: it goes out with that push.
  /// Alone it would read the whole model once more, on top of the push's
  /// read (a push_and_fetch reads it once and returns the sums it wrote).
  bool fetch_wanted = false;
  bool coalesce = true;   ///< sync.push_backlog == "coalesce"
  bool waiting = false;   ///< minibatches wait while blocked()
  clock_type::time_point wait_started{};
  double sync_wait_seconds = 0;

  // Store versions (pushes applied), to tell whether a fetched copy holds
  // anything this replica does not already have.
  bool fetch_in_flight = false;
  bool restore_in_flight = false;
  bool have_version = false;
  std::uint64_t known_version = 0;  ///< store version as far as we know
  std::uint64_t version_at_request = 0;
  std::uint64_t pushes_since_request = 0;
  /// Own pushes since the fetch that last refreshed the parameters was
  /// asked for: the clock of sync.max_staleness.
  std::uint64_t pushes_since_fresh = 0;

  bool loader_started = false;
  bool loader_ended = false;  ///< (end): train what is held, then finish
  bool stopped = false;       ///< (stop): finish now
  bool done_sent = false;
  std::uint64_t steps = 0;  ///< including those before a resume
  std::uint64_t start_steps = 0;
  std::uint64_t steps_since_push = 0;
  std::uint32_t epochs_done = 0;
  float learning_rate = 0;
  clock_type::time_point first_step{};

  void on_batch(caf::event_based_actor* self, std::uint32_t index) {
    if (stopped) return;
    held.push_back(index);
    drain(self);
  }

  /// Compute waits while its parameters are more than sync.max_staleness
  /// pushes old. While every delta buffer is in flight (a slow store), with
  /// sync.push_backlog = "coalesce" it goes on: the pending delta grows and
  /// goes out whole when a buffer comes back. With "wait" it waits for the
  /// buffer, so that every push covers exactly push_every steps and a
  /// single replica's run is reproducible to the bit.
  bool blocked() const { return (push_due && !coalesce) || too_stale(0); }

  /// Past sync.max_staleness after `more` pushes.
  bool too_stale(std::uint64_t more) const {
    const auto bound = ctx->cfg.sync.max_staleness;
    return bound >= 0 &&
           pushes_since_fresh + more > static_cast<std::uint64_t>(bound);
  }

  /// Trains the minibatches that are waiting, as far as it may.
  void drain(caf::event_based_actor* self) {
    while (!held.empty() && !stopped) {
      if (blocked()) {
        if (!waiting) {
          waiting = true;
          wait_started = clock_type::now();
        }
        if (!push_due && !fetch_in_flight) request_fetch(self);  // too stale
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
    if (steps == start_steps) first_step = clock_type::now();
    const batch_slot& slot = ctx->slots[index];
    trainer->step(local, slot.x, slot.labels.data(), learning_rate);
    const bool epoch_end = slot.last_of_epoch;
    self->send(loader, slot_atom::value, index);
    ++steps;
    ++steps_since_push;
    if (epoch_end) ++epochs_done;
    const bool fetch_now =
        steps % static_cast<std::uint64_t>(ctx->cfg.sync.fetch_every) == 0 &&
        !fetch_in_flight;
    if (steps % static_cast<std::uint64_t>(ctx->cfg.sync.push_every) == 0) {
      push_due = !push(self, fetch_now);
      if (push_due && fetch_now) fetch_wanted = true;
    } else if (fetch_now) {
      request_fetch(self);
    }
    if (steps % static_cast<std::uint64_t>(ctx->cfg.actors.report_every) == 0 ||
        epoch_end) {
      self->send(coordinator, progress_atom::value, ctx->id, steps,
                 epochs_done);
    }
  }

  void request_fetch(caf::event_based_actor* self) {
    self->send(sync, fetch_atom::value, begin_fetch());
  }

  /// The bookkeeping of a fetch asked for now; returns the version to
  /// hand the store, which skips the copy when nothing changed since.
  std::uint64_t begin_fetch() {
    fetch_wanted = false;
    fetch_in_flight = true;
    pushed_valid = false;  // P = 0: the fetch will see every push so far
    version_at_request = known_version;
    pushes_since_request = 0;
    return have_version ? known_version : parameter_store::mixed_version;
  }

  /// Hands L - B to sync, followed by a fetch when `then_fetch` (or when
  /// one waits for this push); false when every buffer is in flight.
  bool push(caf::event_based_actor* self, bool then_fetch) {
    then_fetch = (then_fetch || fetch_wanted) && !fetch_in_flight;
    if (steps_since_push == 0) {
      if (then_fetch) request_fetch(self);
      return true;
    }
    if (free_push_buffers.empty()) return false;
    const std::uint32_t index = free_push_buffers.back();
    free_push_buffers.pop_back();
    float* d = ctx->push_buffers[index].data();
    float* l = local.data();
    float* b = base.data();
    const std::size_t n = local.size();
    if (fetch_in_flight) {
      float* p = pushed.data();
      if (pushed_valid) {
        for (std::size_t i = 0; i < n; ++i) {
          d[i] = l[i] - b[i];
          b[i] = l[i];
          p[i] += d[i];
        }
      } else {
        for (std::size_t i = 0; i < n; ++i) {
          d[i] = l[i] - b[i];
          b[i] = l[i];
          p[i] = d[i];
        }
        pushed_valid = true;
      }
      ++pushes_since_request;
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        d[i] = l[i] - b[i];
        b[i] = l[i];
      }
    }
    ++known_version;
    ++pushes_since_fresh;
    steps_since_push = 0;
    if (then_fetch) {
      self->send(sync, push_fetch_atom::value, index, begin_fetch());
    } else {
      self->send(sync, push_atom::value, index);
    }
    return true;
  }

  /// A fetched copy arrived: adopt it unless it holds nothing new.
  void on_fetched(std::uint64_t version) {
    fetch_in_flight = false;
    const bool nothing_new = have_version && version == version_at_request;
    if (!nothing_new) {
      apply_fetched();
    }
    pushed_valid = false;
    have_version = version != parameter_store::mixed_version;
    known_version = version + pushes_since_request;
    pushes_since_fresh = pushes_since_request;
  }

  /// B = S + P; L = B + (L - B_old): fresh parameters, own work kept.
  void apply_fetched() {
    const float* s = ctx->fetch_buffer.data();
    float* l = local.data();
    float* b = base.data();
    const std::size_t n = local.size();
    if (pushed_valid) {
      const float* p = pushed.data();
      for (std::size_t i = 0; i < n; ++i) {
        const float pending = l[i] - b[i];
        b[i] = s[i] + p[i];
        l[i] = b[i] + pending;
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        const float pending = l[i] - b[i];
        b[i] = s[i];
        l[i] = s[i] + pending;
      }
    }
  }

  void on_pushed(caf::event_based_actor* self, std::uint32_t index) {
    free_push_buffers.push_back(index);
    // When this push takes the replica past sync.max_staleness, it waits
    // for a fetch: that fetch goes with the push.
    if (push_due) push_due = !push(self, too_stale(1));
    drain(self);
  }

  /// Once stopping: push what is pending, then report when sync is idle.
  void try_finish(caf::event_based_actor* self) {
    const bool finishing = stopped || (loader_ended && held.empty());
    if (!finishing || done_sent) return;
    if (steps_since_push > 0) push(self, false);
    const bool pushes_idle =
        free_push_buffers.size() == ctx->push_buffers.size();
    if (steps_since_push > 0 || !pushes_idle || fetch_in_flight ||
        restore_in_flight) {
      return;
    }
    done_sent = true;
    const double seconds =
        steps == start_steps
            ? 0.0
            : std::chrono::duration<double>(clock_type::now() - first_step)
                  .count();
    self->send(
        replica, done_atom::value, ctx->id, epochs_done,
        static_cast<std::uint64_t>((steps - start_steps) * ctx->batch_size()),
        seconds, sync_wait_seconds);
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
    have_version = false;  // the store's versions restart
    if (restore_in_flight) return;
    restore_in_flight = true;
    std::copy(base.begin(), base.end(), ctx->restore_buffer.begin());
    self->send(sync, restore_atom::value);
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
  const std::size_t n = ctx->shape.size();
  st->trainer = std::make_unique<mlp_trainer>(
      ctx->shape, ctx->batch_size(), static_cast<float>(ctx->cfg.model.dropout),
      seed_for(static_cast<std::uint64_t>(ctx->cfg.model.seed), ctx->id,
               rng_stream::dropout));
  st->local.resize(n);
  st->base.resize(n);
  st->pushed.resize(n);
  st->learning_rate = static_cast<float>(ctx->cfg.train.learning_rate);
  st->coalesce = ctx->cfg.sync.push_backlog == "coalesce";
  st->steps = st->start_steps = ctx->start.steps;
  st->epochs_done = static_cast<std::uint32_t>(ctx->start.epochs);
  for (std::uint32_t i = 0; i < ctx->push_buffers.size(); ++i) {
    st->free_push_buffers.push_back(i);
  }
  st->ctx = std::move(ctx);
  st->replica = std::move(replica);
  st->coordinator = std::move(coordinator);
  return {
      [self, st](start_atom, caf::actor loader, caf::actor sync) {
        st->loader = std::move(loader);
        st->sync = std::move(sync);
        // A stop sent right after the start overtakes it (stops are urgent):
        // compute has reported done already, so it must not start a fetch
        // that would write into buffers its replica is about to free.
        if (st->stopped) return;
        // Runs on compute's own thread (a detached actor). Failing to lower
        // the priority only costs speed: not worth stopping the job.
        (void)lower_thread_priority(
            static_cast<int>(st->ctx->cfg.actors.compute_nice));
        // Start from the store's parameters, like every later fetch; the
        // loader starts once they are in.
        st->request_fetch(self);
      },
      [self, st](batch_atom, std::uint32_t index) {
        st->on_batch(self, index);
      },
      [self, st](pushed_atom, std::uint32_t index, std::int32_t code,
                 const std::string& why) {
        if (code != 0) st->on_store_error(self, code, why);
        st->on_pushed(self, index);
        st->try_finish(self);
      },
      [self, st](fetched_atom, std::int32_t code, std::uint64_t version,
                 const std::string& why) {
        if (code != 0) {
          st->fetch_in_flight = false;
          if (!st->loader_started) {
            st->fail(self, why);  // no parameters yet: nothing to restore
            return;
          }
          st->on_store_error(self, code, why);
          st->drain(self);  // a staleness wait asks for the fetch again
          st->try_finish(self);
          return;
        }
        st->on_fetched(version);
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
