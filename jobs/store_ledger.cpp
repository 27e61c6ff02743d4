// A save is a few record writes at once; its completion waits for all.
#include "jobs/store_ledger.hpp"

#include <atomic>

namespace emnist {

/// The writes of one save: `done` runs when the last has completed.
struct store_ledger::save_round {
  std::atomic<std::size_t> left{0};
  saved done;
  std::mutex mutex;
  std::vector<std::uint32_t> lost;  ///< guarded by mutex

  void lose(std::uint32_t id) {
    std::lock_guard guard(mutex);
    lost.push_back(id);
  }
  void finish_one() {
    if (left.fetch_sub(1) != 1) return;
    std::vector<std::uint32_t> ids;
    {
      std::lock_guard guard(mutex);
      ids = std::move(lost);
    }
    done(std::move(ids));
  }
};

namespace {

std::string reached_value(double accuracy) {
  return "accuracy = " + std::to_string(accuracy) + "\n";
}

}  // namespace

store_ledger::store_ledger(std::shared_ptr<record_store> records,
                           job_metadata meta, std::string holder,
                           std::map<std::uint32_t, std::uint64_t> tokens,
                           bool spans_processes)
    : records_(std::move(records)),
      meta_(std::move(meta)),
      meta_text_(encode_meta(meta_)),
      holder_(std::move(holder)),
      spans_processes_(spans_processes),
      tokens_(std::move(tokens)) {}

void store_ledger::save(std::vector<replica_record> records, saved done) {
  bool reached = false;
  double best = -1;
  for (const auto& r : records) {
    reached = reached || r.reached;
    best = std::max(best, r.best_accuracy);
  }
  // Likewise the flag that stops the job's other processes, once this one
  // knows the target is reached.
  const bool add_reached = reached && spans_processes_;
  auto round = std::make_shared<save_round>();
  round->left = records.size() + (add_reached ? 1 : 0) + 2;
  round->done = std::move(done);
  // The meta record, if a server restarted empty (a no-op when it is
  // there): status and resume need it.
  records_->add_record(meta_record_name, meta_text_,
                       [round](expected<void>) { round->finish_one(); });
  if (add_reached) {
    records_->add_record(reached_record_name, reached_value(best),
                         [round](expected<void>) { round->finish_one(); });
  }
  for (auto& r : records) {
    r.holder = holder_;
    save_one(round, std::move(r));
  }
  round->finish_one();  // the round's own: no write may finish it early
}

void store_ledger::save_one(std::shared_ptr<save_round> round,
                            replica_record r) {
  std::uint64_t token = 0;
  {
    std::lock_guard guard(mutex_);
    auto it = tokens_.find(r.id);
    if (it == tokens_.end()) {
      // Never claimed (or lost before): nothing of it is this call's.
      round->lose(r.id);
      round->finish_one();
      return;
    }
    token = it->second;
  }
  const auto id = r.id;
  auto text = encode_record(r);
  records_->replace_record(
      replica_record_name(id), std::move(text), token,
      [self = shared_from_this(), round,
       r = std::move(r)](expected<std::uint64_t> written) mutable {
        if (written) {
          std::lock_guard guard(self->mutex_);
          self->tokens_[r.id] = *written;
        } else if (written.error().code == errc::not_found) {
          // Gone: a server restarted empty, or the job was replaced.
          return self->restore_one(std::move(round), std::move(r));
        } else if (written.error().code == errc::aborted) {
          // Another writer came first: another call, or this one (a write
          // applied whose reply was lost, then tried again).
          return self->check_holder(std::move(round), r.id);
        }
        // Other errors: best effort; a store that is down shows in the
        // pushes and fetches, and the next save tries again.
        round->finish_one();
      });
}

void store_ledger::check_holder(std::shared_ptr<save_round> round,
                                std::uint32_t id) {
  records_->read_versioned(
      replica_record_name(id),
      [self = shared_from_this(), round,
       id](expected<std::optional<record_store::versioned>> read) {
        std::optional<std::uint64_t> mine;
        if (read && *read) {
          auto r = decode_record((*read)->value, replica_record_name(id));
          if (r && r->holder == self->holder_) mine = (*read)->token;
        }
        {
          std::lock_guard guard(self->mutex_);
          if (mine) {
            self->tokens_[id] = *mine;
          } else if (read) {
            self->tokens_.erase(id);
          }
        }
        // Unknown (the read failed): the next save tries again.
        if (!mine && read) round->lose(id);
        round->finish_one();
      });
}

void store_ledger::restore_one(std::shared_ptr<save_round> round,
                               replica_record r) {
  // Written back only while the job is still the one this call joined: a
  // replaced job's new replicas must find their records free.
  records_->read_record(
      meta_record_name, [self = shared_from_this(), round, r = std::move(r)](
                            expected<std::optional<std::string>> meta) mutable {
        const bool same_job = meta && (!*meta || [&] {
                                auto m = decode_meta(**meta, meta_record_name);
                                return m && m->id == self->meta_.id;
                              }());
        if (!meta) {
          round->finish_one();  // unknown: the next save tries again
          return;
        }
        if (!same_job) {
          {
            std::lock_guard guard(self->mutex_);
            self->tokens_.erase(r.id);
          }
          round->lose(r.id);
          round->finish_one();
          return;
        }
        const auto id = r.id;
        self->records_->replace_record(
            replica_record_name(id), encode_record(r), 0,
            [self, round, id](expected<std::uint64_t> written) {
              {
                std::lock_guard guard(self->mutex_);
                if (written) {
                  self->tokens_[id] = *written;
                } else if (written.error().code == errc::aborted) {
                  self->tokens_.erase(id);
                }
              }
              if (!written && written.error().code == errc::aborted) {
                round->lose(id);
              }
              round->finish_one();
            });
      });
}

void store_ledger::announce_reached(double accuracy,
                                    std::function<void()> done) {
  records_->write_record(reached_record_name, reached_value(accuracy),
                         [done = std::move(done)](expected<void>) { done(); });
}

void store_ledger::poll(std::function<void(signal)> done) {
  // A stop first (the job is being replaced), then the target.
  records_->read_record(
      stop_record_name, [self = shared_from_this(), done = std::move(done)](
                            expected<std::optional<std::string>> stop) mutable {
        if (stop && *stop) return done(signal::stop);
        self->records_->read_record(
            reached_record_name,
            [done = std::move(done)](expected<std::optional<std::string>> r) {
              done(r && *r ? signal::reached : signal::none);
            });
      });
}

}  // namespace emnist
