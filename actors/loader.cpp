// Shuffling and minibatch preparation, beside compute.
#include "actors/loader.hpp"

#include <algorithm>
#include <numeric>

#include "model/rng.hpp"

namespace emnist {

struct loader_state {
  static constexpr const char* name = "loader";
  loader_setup setup;
  std::vector<std::uint32_t> order;
  std::vector<const std::uint8_t*> images;  ///< of the minibatch being filled
  std::vector<batch_ptr> buffers;           ///< its own, until started
  std::size_t pos = 0;
  std::uint32_t epoch = 0;
  bool finished = false;
  rng random{0};

  /// Fills `slot` with the next minibatch; false once every pass is done.
  bool fill(batch_slot& slot) {
    const std::size_t b = setup.settings.batch_size;
    if (pos + b > order.size()) {
      ++epoch;
      if (epoch >= setup.settings.max_epochs) return false;
      std::shuffle(order.begin(), order.end(), random);
      pos = 0;
    }
    for (std::size_t r = 0; r < b; ++r) {
      const std::uint32_t i = order[pos + r];
      images[r] = setup.shard.image(i);
      slot.labels[r] = setup.shard.label(i);
    }
    slot.x.assign(images.data(), b, setup.shard.features());
    pos += b;
    slot.epoch = epoch;
    slot.last_of_epoch = pos + b > order.size();
    return true;
  }

  void send_next(loader_actor::stateful_pointer<loader_state> self,
                 batch_ptr buffer) {
    if (finished) return;
    if (fill(*buffer)) {
      self->send(setup.compute, batch_atom::value, std::move(buffer));
    } else {
      finished = true;
      self->send(setup.compute, end_atom::value);
    }
  }
};

namespace {

loader_actor::behavior_type loader(
    loader_actor::stateful_pointer<loader_state> self, loader_setup setup) {
  auto& init = self->state;
  init.setup = std::move(setup);
  const auto& s = init.setup.settings;
  init.order.resize(init.setup.shard.size());
  init.images.resize(s.batch_size);
  for (std::size_t i = 0; i < std::max<std::size_t>(s.prefetch, 1); ++i) {
    auto b = std::make_shared<batch_slot>();
    b->x.reserve(s.batch_size, init.setup.shard.features());
    b->labels.resize(s.batch_size);
    init.buffers.push_back(std::move(b));
  }
  std::iota(init.order.begin(), init.order.end(), 0u);
  init.random = rng(seed_for(s.seed, init.setup.replica, rng_stream::shuffle));
  std::shuffle(init.order.begin(), init.order.end(), init.random);
  // A resumed replica goes on with the pass it was in, in the same order
  // as before: replay the shuffles of the passes it has done.
  for (std::uint64_t e = 0; e < init.setup.start_epochs; ++e) {
    std::shuffle(init.order.begin(), init.order.end(), init.random);
  }
  init.epoch = static_cast<std::uint32_t>(init.setup.start_epochs);
  init.finished = init.epoch >= s.max_epochs;
  return {
      [self](start_atom) {
        auto& st = self->state;
        if (st.finished) {
          self->send(st.setup.compute, end_atom::value);  // all passes done
          return;
        }
        auto buffers = std::move(st.buffers);
        for (auto& b : buffers) st.send_next(self, std::move(b));
      },
      [self](slot_atom, batch_ptr buffer) {
        self->state.send_next(self, std::move(buffer));
      },
  };
}

}  // namespace

loader_actor spawn_loader(caf::local_actor& parent, loader_setup setup) {
  return parent.spawn<caf::linked>(loader, std::move(setup));
}

}  // namespace emnist
