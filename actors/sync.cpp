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
  std::uint32_t buffer;
};
struct fetch_op {
  std::uint64_t known_version;
};
struct push_fetch_op {
  std::uint32_t buffer;
  std::uint64_t known_version;
};
struct restore_op {};
using store_op = std::variant<push_op, fetch_op, push_fetch_op, restore_op>;

/// 0 for success, else 1 + the error's errc: what compute should do.
std::int32_t code_of(const error* e) {
  return e == nullptr ? 0 : 1 + static_cast<std::int32_t>(e->code);
}

}  // namespace

struct sync_session::core : std::enable_shared_from_this<core> {
  std::shared_ptr<replica_context> ctx;
  caf::actor compute;
  std::mutex mutex;  ///< guards queue and busy
  std::deque<store_op> queue;
  bool busy = false;  ///< an operation is in flight

  /// Queues `op` and starts it unless another is in flight.
  void submit(store_op op) {
    {
      std::lock_guard guard(mutex);
      queue.push_back(op);
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
      op = queue.front();
      queue.pop_front();
      if (const auto* p = std::get_if<push_op>(&op);
          p != nullptr && !queue.empty()) {
        if (const auto* f = std::get_if<fetch_op>(&queue.front())) {
          op = push_fetch_op{p->buffer, f->known_version};
          queue.pop_front();
        }
      }
    }
    start(op);
  }

  /// Runs `op` on the store; its completion replies to compute and starts
  /// the next one. The embedded store completes inline, on this thread.
  void start(const store_op& op) {
    auto self = shared_from_this();
    auto& store = *ctx->store;
    if (const auto* p = std::get_if<push_op>(&op)) {
      const std::uint32_t index = p->buffer;
      store.push(ctx->push_buffers[index], [self, index](expected<void> r) {
        caf::anon_send<urgent>(self->compute, pushed_atom::value, index,
                               code_of(r ? nullptr : &r.error()),
                               r ? std::string{} : r.error().message);
        self->start_next();
      });
    } else if (const auto* f = std::get_if<fetch_op>(&op)) {
      store.fetch(ctx->fetch_buffer, f->known_version,
                  [self](expected<std::uint64_t> r) {
                    self->reply_fetched(r);
                    self->start_next();
                  });
    } else if (const auto* pf = std::get_if<push_fetch_op>(&op)) {
      const std::uint32_t index = pf->buffer;
      store.push_and_fetch(ctx->push_buffers[index], ctx->fetch_buffer,
                           [self, index](expected<std::uint64_t> r) {
                             // Compute sees what it asked for: the push's
                             // reply, then the fetch's.
                             caf::anon_send<urgent>(
                                 self->compute, pushed_atom::value, index,
                                 code_of(r ? nullptr : &r.error()),
                                 r ? std::string{} : r.error().message);
                             self->reply_fetched(r);
                             self->start_next();
                           });
    } else {
      store.restore(ctx->restore_buffer, [self](expected<void> r) {
        caf::anon_send<urgent>(self->compute, restored_atom::value,
                               code_of(r ? nullptr : &r.error()),
                               r ? std::string{} : r.error().message);
        self->start_next();
      });
    }
  }

  void reply_fetched(const expected<std::uint64_t>& r) {
    caf::anon_send<urgent>(compute, fetched_atom::value,
                           code_of(r ? nullptr : &r.error()),
                           r ? *r : parameter_store::mixed_version,
                           r ? std::string{} : r.error().message);
  }
};

sync_session::sync_session(std::shared_ptr<replica_context> ctx,
                           caf::actor compute)
    : core_(std::make_shared<core>()) {
  core_->ctx = std::move(ctx);
  core_->compute = std::move(compute);
}

void sync_session::push(std::uint32_t buffer) {
  core_->submit(push_op{buffer});
}

void sync_session::fetch(std::uint64_t known_version) {
  core_->submit(fetch_op{known_version});
}

void sync_session::push_and_fetch(std::uint32_t buffer,
                                  std::uint64_t known_version) {
  core_->submit(push_fetch_op{buffer, known_version});
}

void sync_session::restore() {
  core_->submit(restore_op{});
}

}  // namespace emnist
