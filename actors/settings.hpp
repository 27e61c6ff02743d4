// What each actor of a job reads of the job's configuration: a small struct
// each, filled once by settings_of(), so that no actor holds (or depends on)
// the whole job_config.
//
//   const auto s = settings_of(cfg);
//   spawn(loader, s.replica.loader, shard, ...);
#pragma once

#include <cstddef>
#include <cstdint>

#include "actors/downpour_state.hpp"
#include "runtime/config/config.hpp"

namespace emnist {

struct loader_settings {
  std::size_t batch_size = 32;
  std::uint64_t max_epochs = 20;  ///< passes over the shard
  std::uint64_t seed = 1;         ///< the job's; each replica derives its own
  std::size_t prefetch = 16;      ///< minibatch buffers ahead of compute
};

struct compute_settings {
  std::size_t batch_size = 32;
  float learning_rate = 0.1f;
  float dropout = 0.2f;
  std::uint64_t seed = 1;
  std::uint64_t report_every = 8;  ///< steps between progress reports
  downpour_settings downpour;
};

struct replica_settings {
  loader_settings loader;
  compute_settings compute;
};

struct evaluator_settings {
  std::size_t chunk_rows = 256;
};

struct coordinator_settings {
  std::uint32_t replicas = 1;  ///< of the whole job, here or elsewhere
  std::size_t batch_size = 32;
  double target_accuracy = 0.75;
  std::uint64_t eval_every = 0;  ///< job steps; 0: each pass over the shards
  std::int64_t max_seconds = 0;  ///< 0: no budget
};

struct job_settings {
  coordinator_settings coordinator;
  replica_settings replica;
  evaluator_settings evaluator;
};

[[nodiscard]] job_settings settings_of(const job_config& cfg);

}  // namespace emnist
