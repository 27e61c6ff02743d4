// What the actors of one replica share: its settings, its shard, the store,
// and the buffers they hand to each other by index (never touched by two
// actors at once: a message passes a buffer's ownership).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "model/dataset.hpp"
#include "model/mlp.hpp"
#include "model/sparse_batch.hpp"
#include "runtime/config/config.hpp"
#include "runtime/store/job_state.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

/// One prepared minibatch: the inputs without their zeros, the labels.
struct batch_slot {
  sparse_batch x;
  std::vector<std::uint8_t> labels;
  std::uint32_t epoch = 0;     ///< pass over the shard it belongs to
  bool last_of_epoch = false;  ///< the pass ends with this minibatch
};

struct replica_context {
  std::uint32_t id = 0;
  job_config cfg;
  mlp_shape shape;
  data_view shard;
  std::shared_ptr<parameter_store> store;
  /// Where training starts: zeros, or the stored progress it resumes
  /// (passes done, steps); an interrupted pass is trained again.
  replica_record start;

  std::vector<batch_slot> slots;                 ///< loader <-> compute
  std::vector<std::vector<float>> push_buffers;  ///< compute <-> sync
  std::vector<float> fetch_buffer;               ///< sync -> compute
  std::vector<float> restore_buffer;             ///< compute -> sync

  replica_context(std::uint32_t replica, const job_config& config,
                  const mlp_shape& s, data_view data,
                  std::shared_ptr<parameter_store> st)
      : id(replica),
        cfg(config),
        shape(s),
        shard(std::move(data)),
        store(std::move(st)),
        slots(static_cast<std::size_t>(config.actors.prefetch)),
        push_buffers(static_cast<std::size_t>(config.actors.push_queue),
                     std::vector<float>(s.size())),
        fetch_buffer(s.size()),
        restore_buffer(s.size()) {
    const auto batch = static_cast<std::size_t>(config.train.batch_size);
    for (auto& slot : slots) {
      slot.x.reserve(batch, s.inputs);
      slot.labels.resize(batch);
    }
  }

  std::size_t batch_size() const {
    return static_cast<std::size_t>(cfg.train.batch_size);
  }
  /// Full minibatches in one pass over the shard (the tail is reshuffled
  /// into the next pass).
  std::size_t steps_per_epoch() const { return shard.size() / batch_size(); }
};

}  // namespace emnist
