// Store operations on behalf of compute, one at a time, answered by message.
#include "actors/sync.hpp"

#include <deque>
#include <variant>

namespace emnist {
namespace {

/// Replies go to the front of compute's mailbox: behind them wait up to
/// actors.prefetch minibatches, and a reply that queued behind them would
/// reach compute that many training steps late (measured: about 15 steps
/// per store round trip, on the embedded store too), leaving every
/// replica's view of the others that much staler.
constexpr auto urgent = caf::message_priority::high;

struct push_op {
  std::uint32_t buffer;
};
struct fetch_op {
  std::uint64_t known_version;
};
struct restore_op {};

/// 0 for success, else 1 + the error's errc: what compute should do.
std::int32_t code_of(const error* e) {
  return e == nullptr ? 0 : 1 + static_cast<std::int32_t>(e->code);
}

struct sync_state {
  std::shared_ptr<replica_context> ctx;
  caf::actor compute;
  std::deque<std::variant<push_op, fetch_op, restore_op>> queue;
  bool busy = false;

  /// Starts the next operation when none is in flight. Their completions
  /// come back here first, so the store sees this replica's operations in
  /// the order compute asked for them: a fetch asked for after a push sees
  /// that push (compute's bookkeeping relies on it).
  void pump(caf::event_based_actor* self) {
    if (busy || queue.empty()) return;
    busy = true;
    auto op = queue.front();
    queue.pop_front();
    auto me = caf::actor_cast<caf::actor>(self);
    // A push followed by a fetch goes to the store as one operation: the
    // sums it writes are the fresh parameters (no second read of them).
    if (const auto* p = std::get_if<push_op>(&op);
        p != nullptr && !queue.empty() &&
        std::holds_alternative<fetch_op>(queue.front())) {
      queue.pop_front();
      const std::uint32_t index = p->buffer;
      ctx->store->push_and_fetch(ctx->push_buffers[index], ctx->fetch_buffer,
                                 [me, index](expected<std::uint64_t> r) {
                                   caf::anon_send(
                                       me, pushfetched_atom::value, index,
                                       code_of(r ? nullptr : &r.error()),
                                       r ? *r : parameter_store::mixed_version,
                                       r ? std::string{} : r.error().message);
                                 });
      return;
    }
    if (const auto* p = std::get_if<push_op>(&op)) {
      const std::uint32_t index = p->buffer;
      ctx->store->push(ctx->push_buffers[index], [me, index](expected<void> r) {
        caf::anon_send(me, pushed_atom::value, index,
                       code_of(r ? nullptr : &r.error()),
                       r ? std::string{} : r.error().message);
      });
    } else if (const auto* f = std::get_if<fetch_op>(&op)) {
      ctx->store->fetch(
          ctx->fetch_buffer, f->known_version, [me](expected<std::uint64_t> r) {
            caf::anon_send(me, fetched_atom::value,
                           code_of(r ? nullptr : &r.error()),
                           r ? *r : parameter_store::mixed_version,
                           r ? std::string{} : r.error().message);
          });
    } else {
      ctx->store->restore(ctx->restore_buffer, [me](expected<void> r) {
        caf::anon_send(me, restored_atom::value,
                       code_of(r ? nullptr : &r.error()),
                       r ? std::string{} : r.error().message);
      });
    }
  }

  void done(caf::event_based_actor* self) {
    busy = false;
    pump(self);
  }
};

}  // namespace

caf::behavior sync_actor(caf::event_based_actor* self,
                         std::shared_ptr<replica_context> ctx,
                         caf::actor compute) {
  auto st = std::make_shared<sync_state>();
  st->ctx = std::move(ctx);
  st->compute = std::move(compute);
  return {
      [self, st](push_atom, std::uint32_t index) {
        st->queue.push_back(push_op{index});
        st->pump(self);
      },
      [self, st](push_fetch_atom, std::uint32_t index,
                 std::uint64_t known_version) {
        // Queued together, so that pump() merges them.
        st->queue.push_back(push_op{index});
        st->queue.push_back(fetch_op{known_version});
        st->pump(self);
      },
      [self, st](fetch_atom, std::uint64_t known_version) {
        st->queue.push_back(fetch_op{known_version});
        st->pump(self);
      },
      [self, st](restore_atom) {
        st->queue.push_back(restore_op{});
        st->pump(self);
      },
      [self, st](pushed_atom, std::uint32_t index, std::int32_t code,
                 const std::string& why) {
        self->send<urgent>(st->compute, pushed_atom::value, index, code, why);
        st->done(self);
      },
      [self, st](fetched_atom, std::int32_t code, std::uint64_t version,
                 const std::string& why) {
        self->send<urgent>(st->compute, fetched_atom::value, code, version, why);
        st->done(self);
      },
      [self, st](pushfetched_atom, std::uint32_t index, std::int32_t code,
                 std::uint64_t version, const std::string& why) {
        // Compute sees what it asked for: the push's reply, then the
        // fetch's.
        self->send<urgent>(st->compute, pushed_atom::value, index, code, why);
        self->send<urgent>(st->compute, fetched_atom::value, code, version, why);
        st->done(self);
      },
      [self, st](restored_atom, std::int32_t code, const std::string& why) {
        self->send<urgent>(st->compute, restored_atom::value, code, why);
        st->done(self);
      },
  };
}

}  // namespace emnist
