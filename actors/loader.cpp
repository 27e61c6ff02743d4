// Shuffling and minibatch preparation, off compute's thread.
#include "actors/loader.hpp"

#include <algorithm>
#include <numeric>

#include "model/rng.hpp"

namespace emnist {
namespace {

struct loader_state {
  std::shared_ptr<replica_context> ctx;
  caf::actor compute;
  std::vector<std::uint32_t> order;
  std::vector<const std::uint8_t*> images;  ///< of the minibatch being filled
  std::size_t pos = 0;
  std::uint32_t epoch = 0;
  bool finished = false;
  rng random{0};

  /// Fills `slot` with the next minibatch; false once every pass is done.
  bool fill(batch_slot& slot) {
    const std::size_t b = ctx->batch_size();
    if (pos + b > order.size()) {
      ++epoch;
      if (epoch >= static_cast<std::uint32_t>(ctx->cfg.train.max_epochs)) {
        return false;
      }
      std::shuffle(order.begin(), order.end(), random);
      pos = 0;
    }
    for (std::size_t r = 0; r < b; ++r) {
      const std::uint32_t i = order[pos + r];
      images[r] = ctx->shard.image(i);
      slot.labels[r] = ctx->shard.label(i);
    }
    slot.x.assign(images.data(), b, ctx->shard.features());
    pos += b;
    slot.epoch = epoch;
    slot.last_of_epoch = pos + b > order.size();
    return true;
  }

  void send_next(caf::event_based_actor* self, std::uint32_t index) {
    if (finished) return;
    if (fill(ctx->slots[index])) {
      self->send(compute, batch_atom::value, index);
    } else {
      finished = true;
      self->send(compute, end_atom::value);
    }
  }
};

}  // namespace

caf::behavior loader_actor(caf::event_based_actor* self,
                           std::shared_ptr<replica_context> ctx,
                           caf::actor compute) {
  auto st = std::make_shared<loader_state>();
  st->ctx = std::move(ctx);
  st->compute = std::move(compute);
  st->order.resize(st->ctx->shard.size());
  st->images.resize(st->ctx->batch_size());
  std::iota(st->order.begin(), st->order.end(), 0u);
  st->random = rng(seed_for(static_cast<std::uint64_t>(st->ctx->cfg.model.seed),
                            st->ctx->id, rng_stream::shuffle));
  std::shuffle(st->order.begin(), st->order.end(), st->random);
  // A resumed replica goes on with the pass it was in, in the same order
  // as before: replay the shuffles of the passes it has done.
  for (std::uint64_t e = 0; e < st->ctx->start.epochs; ++e) {
    std::shuffle(st->order.begin(), st->order.end(), st->random);
  }
  st->epoch = static_cast<std::uint32_t>(st->ctx->start.epochs);
  st->finished =
      st->epoch >= static_cast<std::uint64_t>(st->ctx->cfg.train.max_epochs);
  return {
      [self, st](start_atom) {
        if (st->finished) {
          self->send(st->compute, end_atom::value);  // all passes were done
          return;
        }
        for (std::uint32_t i = 0; i < st->ctx->slots.size(); ++i) {
          st->send_next(self, i);
        }
      },
      [self, st](slot_atom, std::uint32_t index) {
        st->send_next(self, index);
      },
  };
}

}  // namespace emnist
