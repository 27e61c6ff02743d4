// Configuration keys to actor settings.
#include "actors/settings.hpp"

namespace emnist {

job_settings settings_of(const job_config& cfg) {
  job_settings s;
  auto& c = s.coordinator;
  c.replicas = static_cast<std::uint32_t>(cfg.train.replicas);
  c.batch_size = static_cast<std::size_t>(cfg.train.batch_size);
  c.target_accuracy = cfg.train.target_accuracy;
  c.eval_every = static_cast<std::uint64_t>(cfg.train.eval_every);
  c.max_seconds = cfg.train.max_seconds;

  auto& l = s.replica.loader;
  l.batch_size = c.batch_size;
  l.max_epochs = static_cast<std::uint64_t>(cfg.train.max_epochs);
  l.seed = static_cast<std::uint64_t>(cfg.model.seed);
  l.prefetch = static_cast<std::size_t>(cfg.actors.prefetch);

  auto& k = s.replica.compute;
  k.batch_size = c.batch_size;
  k.learning_rate = static_cast<float>(cfg.train.learning_rate);
  k.dropout = static_cast<float>(cfg.model.dropout);
  k.seed = l.seed;
  k.report_every = static_cast<std::uint64_t>(cfg.actors.report_every);
  k.downpour.push_every = static_cast<std::uint64_t>(cfg.sync.push_every);
  k.downpour.fetch_every = static_cast<std::uint64_t>(cfg.sync.fetch_every);
  k.downpour.max_staleness = cfg.sync.max_staleness;
  k.downpour.coalesce = cfg.sync.push_backlog == push_backlog_policy::coalesce;
  k.downpour.max_coalesced_steps =
      static_cast<std::uint64_t>(cfg.sync.max_coalesced_steps);
  k.downpour.push_buffers = static_cast<std::size_t>(cfg.actors.push_queue);

  s.evaluator.chunk_rows = static_cast<std::size_t>(cfg.actors.eval_chunk);
  return s;
}

}  // namespace emnist
