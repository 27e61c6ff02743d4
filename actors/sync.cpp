// A replica's store operations in order, replies sent to compute.
#include "actors/sync.hpp"

#include <deque>
#include <mutex>
#include <variant>

namespace emnist {
namespace {

/// Replies go to the front of compute's mailbox: behind them wait up to
/// actors.prefetch minibatches, and a reply that queued behind them would
/// reach compute that many training steps late.
constexpr auto urgent = caf::message_priority::high;

struct push_op {
  delta_ptr delta;
};
struct fetch_op {
  params_buffer into;
  std::uint64_t known_version;
};
struct push_fetch_op {
  delta_ptr delta;
  params_buffer into;
  std::uint64_t known_version;
};
struct restore_op {
  params_buffer params;
};
using store_op = std::variant<push_op, fetch_op, push_fetch_op, restore_op>;

outcome outcome_of(const expected<void>& r) {
  return r ? outcome{} : outcome{r.error()};
}
template <class T>
outcome outcome_of(const expected<T>& r) {
  return r ? outcome{} : outcome{r.error()};
}

}  // namespace

struct sync_session::core : std::enable_shared_from_this<core> {
  std::shared_ptr<parameter_store> store;
  compute_actor compute;
  std::mutex mutex;  ///< guards queue and busy
  std::deque<store_op> queue;
  bool busy = false;  ///< an operation is in flight

  /// Queues `op` and starts it unless another is in flight.
  void submit(store_op op) {
    {
      std::lock_guard guard(mutex);
      queue.push_back(std::move(op));
      if (busy) return;
      busy = true;
    }
    start_next();
  }

  /// Takes the next operation (merging a push with the fetch behind it)
  /// and starts it; the caller set busy.
  void start_next() {
    store_op op;
    {
      std::lock_guard guard(mutex);
      if (queue.empty()) {
        busy = false;
        return;
      }
      op = std::move(queue.front());
      queue.pop_front();
      if (auto* p = std::get_if<push_op>(&op); p != nullptr && !queue.empty()) {
        if (auto* f = std::get_if<fetch_op>(&queue.front())) {
          op = push_fetch_op{std::move(p->delta), std::move(f->into),
                             f->known_version};
          queue.pop_front();
        }
      }
    }
    start(std::move(op));
  }

  /// Runs `op` on the store; its completion replies to compute and starts
  /// the next one. The embedded store completes inline, on this thread.
  /// The callbacks hold the buffers until the store is done with them.
  void start(store_op op) {
    auto self = shared_from_this();
    if (auto* p = std::get_if<push_op>(&op)) {
      auto delta = std::move(p->delta);
      const std::span<const float> data(*delta);
      store->push(data, [self, delta](expected<void> r) {
        caf::anon_send<urgent>(self->compute, pushed_atom::value, delta,
                               outcome_of(r));
        self->start_next();
      });
    } else if (auto* f = std::get_if<fetch_op>(&op)) {
      auto into = std::move(f->into);
      const std::span<float> data(*into);
      store->fetch(data, f->known_version,
                   [self, into](expected<std::uint64_t> r) {
                     self->reply_fetched(r);
                     self->start_next();
                   });
    } else if (auto* pf = std::get_if<push_fetch_op>(&op)) {
      auto delta = std::move(pf->delta);
      auto into = std::move(pf->into);
      const std::span<const float> sent(*delta);
      const std::span<float> received(*into);
      store->push_and_fetch(
          sent, received, [self, delta, into](expected<std::uint64_t> r) {
            // Compute sees what it asked for: the push's reply, then the
            // fetch's.
            caf::anon_send<urgent>(self->compute, pushed_atom::value, delta,
                                   outcome_of(r));
            self->reply_fetched(r);
            self->start_next();
          });
    } else {
      auto params = std::move(std::get<restore_op>(op).params);
      const std::span<const float> data(*params);
      store->restore(data, [self, params](expected<void> r) {
        caf::anon_send<urgent>(self->compute, restored_atom::value,
                               outcome_of(r));
        self->start_next();
      });
    }
  }

  void reply_fetched(const expected<std::uint64_t>& r) {
    caf::anon_send<urgent>(compute, fetched_atom::value,
                           r ? *r : parameter_store::mixed_version,
                           outcome_of(r));
  }
};

sync_session::sync_session(std::shared_ptr<parameter_store> store,
                           compute_actor compute)
    : core_(std::make_shared<core>()) {
  core_->store = std::move(store);
  core_->compute = std::move(compute);
}

void sync_session::push(delta_ptr delta) {
  core_->submit(push_op{std::move(delta)});
}

void sync_session::fetch(params_buffer into, std::uint64_t known_version) {
  core_->submit(fetch_op{std::move(into), known_version});
}

void sync_session::push_and_fetch(delta_ptr delta, params_buffer into,
                                  std::uint64_t known_version) {
  core_->submit(
      push_fetch_op{std::move(delta), std::move(into), known_version});
}

void sync_session::restore(params_buffer params) {
  core_->submit(restore_op{std::move(params)});
}

}  // namespace emnist
