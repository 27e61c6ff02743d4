// Job control: evaluation schedule, stop conditions, the final result.
#include "actors/coordinator.hpp"

#include <chrono>

#include "actors/eval_schedule.hpp"
#include "actors/evaluator.hpp"
#include "actors/replica.hpp"
#include "base/printable.hpp"

namespace emnist {
namespace {

using clock_type = std::chrono::steady_clock;
constexpr auto progress_interval = std::chrono::milliseconds(500);
/// The evaluation after every replica has finished.
constexpr std::uint64_t final_eval_tag = ~std::uint64_t{0};

struct replica_slot {
  replica_actor handle;
  std::uint64_t steps = 0;
  std::uint64_t epochs = 0;
  std::uint64_t steps_at_last_report = 0;
  bool done = false;
  worker_summary summary;
};

struct coordinator_state {
  static constexpr const char* name = "coordinator";
  using pointer = coordinator_actor::stateful_pointer<coordinator_state>;
  coordinator_setup setup;
  evaluator_actor evaluator;
  std::vector<replica_slot> replicas;  ///< those of this process
  std::vector<int> slot_of;  ///< replica id -> index in replicas, or -1
  clock_type::time_point t0;
  clock_type::time_point last_report;
  clock_type::time_point training_end;
  std::uint64_t total_steps = 0;
  std::optional<eval_schedule> schedule;
  std::uint64_t evaluations = 0;
  bool holding = false;  ///< the replicas wait for an overdue evaluation
  bool stopping = false;
  bool final_eval_sent = false;
  bool finished = false;
  std::optional<double> last_accuracy;
  double best_accuracy = -1;
  std::size_t records_in_flight = 0;
  bool final_records_sent = false;
  bool finishing = false;        ///< finish() waits for record writes
  simulation_result result;      ///< filled in as the job goes
  std::optional<error> failure;  ///< the first, which ends the job
  double eval_requested_at = 0;
  std::int64_t eval_requested_unix_ms = 0;
  std::int64_t reached_at_ms = 0;  ///< eval_requested_unix_ms that reached
  std::uint64_t eval_requested_steps = 0;
  std::uint64_t eval_tag = 0;  ///< of the evaluation running

  replica_slot& slot(std::uint32_t id) {
    return replicas[static_cast<std::size_t>(slot_of.at(id))];
  }

  double since_start() const {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
  }
  std::size_t replicas_done() const {
    std::size_t n = 0;
    for (const auto& r : replicas) n += r.done ? 1 : 0;
    return n;
  }

  /// Asks the evaluator for an evaluation; the schedule has counted it as
  /// running already.
  void request_eval(pointer self, std::uint64_t tag) {
    final_eval_sent = final_eval_sent || tag == final_eval_tag;
    eval_tag = tag;
    eval_requested_at = since_start();
    eval_requested_unix_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now().time_since_epoch())
            .count();
    eval_requested_steps = total_steps;
    self->send<caf::message_priority::high>(evaluator, eval_atom::value, tag);
  }

  /// Holds the replicas while an evaluation is a whole period overdue, and
  /// lets them go once it is not. Stopping replicas are never held.
  void update_hold(pointer self) {
    const bool hold = !stopping && schedule->hold(total_steps);
    if (hold == holding) return;
    holding = hold;
    for (auto& r : replicas) {
      if (r.done) continue;
      if (hold) {
        self->send<caf::message_priority::high>(r.handle, hold_atom::value);
      } else {
        self->send<caf::message_priority::high>(r.handle, resume_atom::value);
      }
    }
  }

  void stop_all(pointer self) {
    if (stopping) return;
    stopping = true;
    for (auto& r : replicas) {
      if (!r.done) self->send(r.handle, stop_atom::value);
    }
    update_hold(self);  // a held replica must get to its stop
  }

  /// The job fails with `e`, its code kept: a corrupt block stays
  /// data_loss, a bad setting invalid_argument.
  void fail(pointer self, error e) {
    if (!failure) failure = std::move(e);
    stop_all(self);
    maybe_finish(self);
  }

  /// Ends the job once every replica is done and no evaluation is needed.
  void maybe_finish(pointer self) {
    if (finished || replicas_done() < replicas.size()) return;
    if (training_end == clock_type::time_point{})
      training_end = clock_type::now();
    const bool reached = result.reached;
    if (!reached && !failure && !final_eval_sent) {
      // The parameters as the replicas left them: every run ends with an
      // accuracy. One still running finishes first.
      if (schedule->start_extra()) request_eval(self, final_eval_tag);
      return;
    }
    if (schedule->running()) return;
    finish(self);
  }

  /// Saves every replica's progress in the ledger; the completion comes
  /// back as (written, lost). Skipped while a save is under way, so that a
  /// late one never overwrites a newer one.
  void write_records(pointer self, bool final) {
    if (records_in_flight > 0) return;
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const auto batch = static_cast<std::uint64_t>(setup.settings.batch_size);
    std::vector<replica_record> records;
    for (const auto& r : replicas) {
      replica_record rec;
      rec.id = r.summary.id;
      rec.epochs = r.epochs;
      rec.steps = r.steps;
      rec.samples = r.steps * batch;
      rec.accuracy = last_accuracy.value_or(-1.0);
      rec.best_accuracy = best_accuracy;
      rec.heartbeat_ms = now_ms;
      rec.done = final && r.done;
      rec.reached = result.reached;
      rec.reached_at_ms = reached_at_ms;
      if (rec.done) rec.stop = stop_reason();
      // A failed run says why, where `emnist status` and /status show it.
      if (rec.done && failure) rec.error = printable(failure->message, 500);
      records.push_back(std::move(rec));
    }
    auto me = caf::actor_cast<coordinator_actor>(self);
    ++records_in_flight;
    setup.ledger->save(
        std::move(records), [me](std::vector<std::uint32_t> lost) {
          caf::anon_send(me, written_atom::value, std::move(lost));
        });
  }

  /// Tells the job's other processes that the target is reached.
  void announce_reached(pointer self, double accuracy) {
    if (replicas.size() == slot_of.size()) return;  // all replicas are here
    auto me = caf::actor_cast<coordinator_actor>(self);
    ++records_in_flight;
    setup.ledger->announce_reached(accuracy, [me] {
      caf::anon_send(me, written_atom::value, std::vector<std::uint32_t>{});
    });
  }

  /// Asks the ledger whether a replica elsewhere reached the target, or
  /// the job is being replaced.
  void poll_ledger(pointer self) {
    if (stopping) return;
    auto me = caf::actor_cast<coordinator_actor>(self);
    setup.ledger->poll([me](job_ledger::signal s) {
      if (s == job_ledger::signal::reached) {
        caf::anon_send(me, reached_atom::value);
      } else if (s == job_ledger::signal::stop) {
        caf::anon_send(me, stop_atom::value);
      }
    });
  }

  std::string stop_reason() const {
    const auto& res = result;
    if (failure) return "failed";
    if (res.reached) return "target";
    if (res.interrupted) return "interrupted";
    if (res.budget_spent) return "max_seconds";
    return "max_epochs";
  }

  /// The last progress records go out before the job reports done.
  void finish(pointer self) {
    finishing = true;  // (written) calls back here
    if (!final_records_sent) {
      if (records_in_flight > 0) return;  // (written) calls back here
      final_records_sent = true;
      write_records(self, true);
      return;
    }
    if (records_in_flight > 0 || finished) return;
    finished = true;
    auto& res = result;
    res.stop_reason = stop_reason();
    res.seconds = std::chrono::duration<double>(training_end - t0).count();
    res.replicas = static_cast<std::uint32_t>(replicas.size());
    res.evaluations = evaluations;
    res.accuracy = last_accuracy.value_or(0.0);
    res.store = setup.store->kind();
    res.samples = 0;
    for (const auto& r : replicas) {
      res.workers.push_back(r.summary);
      res.samples += r.summary.samples;
      res.sync_wait_seconds += r.summary.sync_wait_seconds;
      res.eval_wait_seconds += r.summary.eval_wait_seconds;
    }
    res.samples_per_second =
        res.seconds > 0 ? static_cast<double>(res.samples) / res.seconds : 0.0;
    res.sync = setup.store->stats();
    self->send_exit(evaluator, caf::exit_reason::user_shutdown);
    // The listener is a dynamically typed actor (the caller's).
    if (failure) {
      caf::anon_send(setup.listener, failed_atom::value, std::move(*failure));
    } else {
      caf::anon_send(setup.listener, done_atom::value, std::move(result));
    }
    self->quit();
  }

  void report() {
    const auto now = clock_type::now();
    const double dt = std::chrono::duration<double>(now - last_report).count();
    last_report = now;
    progress_report p;
    p.seconds = since_start();
    p.last_accuracy = last_accuracy;
    p.evaluations = evaluations;
    const auto batch = static_cast<std::uint64_t>(setup.settings.batch_size);
    for (std::size_t i = 0; i < replicas.size(); ++i) {
      auto& r = replicas[i];
      const std::uint64_t delta = r.steps - r.steps_at_last_report;
      r.steps_at_last_report = r.steps;
      p.replicas.push_back(
          {r.summary.id, r.epochs, r.steps * batch,
           dt > 0 ? static_cast<double>(delta * batch) / dt : 0.0, r.done});
    }
    caf::anon_send(setup.listener, std::move(p));
  }
};

coordinator_actor::behavior_type coordinator(
    coordinator_actor::stateful_pointer<coordinator_state> self,
    coordinator_setup setup) {
  auto* st = &self->state;
  st->setup = std::move(setup);
  const auto& job = st->setup.settings;
  const auto n = job.replicas;
  auto me = caf::actor_cast<coordinator_actor>(self);

  // Everything the coordinator spawns is linked to it: killing the
  // coordinator (the caller's last resort) takes the whole job down.
  evaluator_setup eval;
  eval.settings = st->setup.evaluator;
  eval.shape = st->setup.shape;
  eval.data = st->setup.data->eval;
  eval.store = st->setup.store;
  eval.coordinator = me;
  st->evaluator = spawn_evaluator(*self, std::move(eval));
  std::uint64_t steps_per_pass = 0;
  // The replicas of this process: those in setup.start, else all n.
  auto starts = st->setup.start;
  if (starts.empty()) {
    for (std::uint32_t i = 0; i < n; ++i) {
      starts.emplace_back();
      starts.back().id = i;
    }
  }
  st->slot_of.assign(n, -1);
  for (const auto& start : starts) {
    const std::uint32_t i = start.id;
    replica_setup r;
    r.id = i;
    r.settings = st->setup.replica;
    r.shape = st->setup.shape;
    r.shard = st->setup.data->train.shard(i, n);
    r.store = st->setup.store;
    r.start = start;
    r.coordinator = me;
    st->slot_of[i] = static_cast<int>(st->replicas.size());
    // Full minibatches in one pass (the tail is reshuffled into the next).
    steps_per_pass += r.shard.size() / job.batch_size;
    replica_slot slot;
    slot.steps = slot.steps_at_last_report = start.steps;
    slot.epochs = start.epochs;
    st->total_steps += start.steps;
    st->best_accuracy = std::max(st->best_accuracy, start.best_accuracy);
    slot.handle = spawn_replica(*self, std::move(r));
    slot.summary.id = i;
    st->replicas.push_back(std::move(slot));
  }
  st->schedule.emplace(job.eval_every > 0 ? job.eval_every : steps_per_pass,
                       st->total_steps);

  self->set_exit_handler([self, st](const caf::exit_msg& msg) {
    for (auto& r : st->replicas) {
      if (r.handle.address() != msg.source) continue;
      // A replica ends normally only after sending (done), which may arrive
      // after this exit message: only an abnormal end is a failure.
      if (!r.done && msg.reason) {
        r.done = true;
        st->fail(self, make_error(errc::internal,
                                  "replica " + std::to_string(r.summary.id) +
                                      " stopped unexpectedly: " +
                                      to_string(msg.reason)));
      }
      return;
    }
    if (msg.reason) self->quit(msg.reason);
  });

  st->t0 = clock_type::now();
  st->last_report = st->t0;
  for (auto& r : st->replicas) self->send(r.handle, start_atom::value);
  self->delayed_send(self, progress_interval, tick_atom::value);

  return {
      [self, st](progress_atom, std::uint32_t id, std::uint64_t steps,
                 std::uint32_t epochs) {
        auto& r = st->slot(id);
        st->total_steps += steps - r.steps;
        r.steps = steps;
        r.epochs = epochs;
        if (st->stopping) return;
        if (st->schedule->progress(st->total_steps)) {
          st->request_eval(self, st->total_steps);
        }
        st->update_hold(self);
      },
      [self, st](evaluated_atom, std::uint64_t tag, double accuracy,
                 outcome failure) {
        if (failure) {
          // Blocks missing from the store come back when a replica
          // restores them: try again at the next report. After the end,
          // or for any other error, the job fails.
          st->schedule->retry_later();
          if (failure->code != errc::not_found || tag == final_eval_tag) {
            st->fail(self, *failure);
          }
          // Held replicas go on: they restore what the evaluator missed.
          st->update_hold(self);
          st->maybe_finish(self);
          return;
        }
        ++st->evaluations;
        st->last_accuracy = accuracy;
        st->best_accuracy = std::max(st->best_accuracy, accuracy);
        auto& res = st->result;
        res.history.push_back({st->eval_requested_steps, st->eval_requested_at,
                               st->since_start(), accuracy});
        if (!res.reached && accuracy >= st->setup.settings.target_accuracy) {
          res.reached = true;
          res.seconds_to_target = st->since_start();
          st->reached_at_ms = st->eval_requested_unix_ms;
          res.samples_to_target =
              st->eval_requested_steps *
              static_cast<std::uint64_t>(st->setup.settings.batch_size);
          st->stop_all(self);
          // Status readers learn it now, not at the next tick, and so do
          // the job's replicas in other processes.
          st->write_records(self, false);
          st->announce_reached(self, accuracy);
        }
        const bool another = st->schedule->evaluated();
        if (another && !st->stopping) {
          st->request_eval(self, st->total_steps);
        } else if (another) {
          st->schedule->retry_later();  // stopping: no more periodic ones
        }
        st->update_hold(self);
        st->maybe_finish(self);
      },
      [self, st](done_atom, const worker_summary& summary) {
        auto& r = st->slot(summary.id);
        r.done = true;
        r.summary = summary;
        st->maybe_finish(self);
      },
      [self, st](failed_atom, const error& e) { st->fail(self, e); },
      [self, st](reached_atom) {
        // Another process's replica reached the target: the job is done.
        auto& res = st->result;
        if (res.reached || st->stopping) return;
        res.reached = true;
        res.seconds_to_target = st->since_start();
        st->stop_all(self);
        st->maybe_finish(self);
      },
      [self, st](written_atom, const std::vector<std::uint32_t>& lost) {
        --st->records_in_flight;
        for (const auto id : lost) {
          // Another call holds this replica's slot now: its progress is no
          // longer this one's to save.
          st->fail(self, make_error(errc::aborted,
                                    "replica " + std::to_string(id) +
                                        ": another call runs this replica "
                                        "of the job now (its slot was "
                                        "taken over, or the job replaced)"));
        }
        if (st->finishing) st->finish(self);
      },
      [self, st](stop_atom) {
        // Asked to stop (a shutdown): the replicas push what is pending
        // and the job ends as it is, its progress saved.
        st->result.interrupted = true;
        st->stop_all(self);
        st->maybe_finish(self);
      },
      [self, st](tick_atom) {
        if (st->finished) return;
        const auto budget = st->setup.settings.max_seconds;
        if (budget > 0 && !st->stopping &&
            st->since_start() >= static_cast<double>(budget)) {
          st->result.budget_spent = true;  // train.max_seconds
          st->stop_all(self);
        }
        st->report();
        // An evaluation that failed is asked for again even when no
        // progress comes (every replica waits for the store).
        if (!st->stopping && st->schedule->progress(st->total_steps)) {
          st->request_eval(self, st->total_steps);
        }
        if (!st->final_records_sent) st->write_records(self, false);
        st->poll_ledger(self);
        self->delayed_send(self, progress_interval, tick_atom::value);
      },
  };
}

}  // namespace

coordinator_actor spawn_coordinator(caf::actor_system& system,
                                    coordinator_setup setup) {
  return system.spawn(coordinator, std::move(setup));
}

}  // namespace emnist
