// The process's actor system and its jobs: prepare (on the runner's pool),
// run (a watcher actor over the job's coordinator), finish (the final
// fetch, then `done` on the pool).
#include "jobs/job_runner.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <caf/all.hpp>
#include <cstdio>
#include <future>
#include <map>
#include <sstream>
#include <thread>

#include "actors/coordinator.hpp"
#include "actors/settings.hpp"
#include "jobs/job_lifecycle.hpp"
#include "jobs/store_config.hpp"
#include "jobs/store_ledger.hpp"
#include "model/mlp.hpp"
#include "model/rng.hpp"
#include "runtime/store/store_factory.hpp"

namespace emnist {
namespace {

/// The job never takes this long; a hung actor still cannot hang the caller.
constexpr auto progress_silence_limit = std::chrono::minutes(5);

/// Threads that prepare jobs and run their `done`: preparing blocks on the
/// store (seconds when a server is down), `done` may answer over HTTP.
constexpr std::size_t pool_threads = 4;

expected<mlp_shape> shape_for(const job_config& cfg, const job_data& data) {
  mlp_shape shape{data.features, static_cast<std::size_t>(cfg.model.hidden),
                  data.classes};
  if (cfg.model.inputs != 0 &&
      static_cast<std::size_t>(cfg.model.inputs) != data.features) {
    return make_error(errc::invalid_argument,
                      "model.inputs = " + std::to_string(cfg.model.inputs) +
                          " but the images have " +
                          std::to_string(data.features) + " pixels");
  }
  if (cfg.model.classes != 0 &&
      static_cast<std::size_t>(cfg.model.classes) != data.classes) {
    return make_error(errc::invalid_argument,
                      "model.classes = " + std::to_string(cfg.model.classes) +
                          " but the data has " + std::to_string(data.classes) +
                          " classes");
  }
  return shape;
}

/// The replicas this process runs: `ids`, or all of the job's.
expected<std::vector<std::uint32_t>> replica_ids(
    const job_config& cfg, const job_data& data,
    const std::vector<std::uint32_t>& ids) {
  const auto replicas = static_cast<std::size_t>(cfg.train.replicas);
  const auto batch = static_cast<std::size_t>(cfg.train.batch_size);
  if (data.train.size() / replicas < batch) {
    return make_error(
        errc::invalid_argument,
        "train.batch_size = " + std::to_string(batch) +
            " is larger than a shard: " + std::to_string(data.train.size()) +
            " training samples over " + std::to_string(replicas) + " replicas");
  }
  std::vector<std::uint32_t> out = ids;
  if (out.empty()) {
    for (std::uint32_t i = 0; i < replicas; ++i) out.push_back(i);
  }
  for (auto id : out) {
    if (id >= replicas) {
      return make_error(errc::invalid_argument,
                        "replica " + std::to_string(id) + " of a job of " +
                            std::to_string(replicas) +
                            " (train.replicas): ids are 0.." +
                            std::to_string(replicas - 1));
    }
  }
  return out;
}

/// Every option that makes two memcached stores differ.
std::string store_key(const memcached_options& o, std::size_t floats) {
  std::ostringstream k;
  k << o.job << '|' << floats << '|' << o.block_floats << '|' << o.job_tag
    << '|' << o.timeout.count() << '|' << o.retry_for.count() << '|'
    << static_cast<int>(o.on_server_failure) << '|' << o.max_cas_retries << '|'
    << o.io_threads << '|' << static_cast<int>(o.push_reads);
  for (const auto& s : o.servers) k << '|' << s;
  return k.str();
}

}  // namespace

struct job_runner::job {
  job_id id = 0;
  job_config cfg;
  std::shared_ptr<const job_data> data;
  replicas_options options;
  progress_callback progress;
  done_callback done;
  std::atomic<bool> stop_requested{false};
  caf::actor watcher;  ///< guarded by the runner's mutex
  // Prepared:
  mlp_shape shape;
  std::shared_ptr<job_store> store;
  store_stats stats_before;
  std::vector<replica_record> starts;
  bool resumed = false;  ///< some replica goes on from stored progress
  job_metadata meta;     ///< as set up, or as joined
  std::string holder;    ///< this job's claims of its replicas' slots
  std::map<std::uint32_t, std::uint64_t> tokens;  ///< of the claims
};

job_runner::job_runner(std::size_t scheduler_threads)
    : system_config_(std::make_unique<caf::actor_system_config>()),
      pool_(std::make_unique<boost::asio::thread_pool>(pool_threads)) {
  const auto threads =
      scheduler_threads > 0
          ? scheduler_threads
          : std::max<std::size_t>(std::thread::hardware_concurrency(), 1);
  system_config_->set("scheduler.max-threads", threads);
  // One queue that idle workers sleep on and every enqueue wakes, from
  // any thread (work stealing left idle workers polling and asleep for up
  // to 10 ms when the store's thread sent them work).
  system_config_->set("scheduler.policy", caf::atom("sharing"));
  system_ = std::make_unique<caf::actor_system>(*system_config_);
}

job_runner::~job_runner() {
  stop_all();
  wait_idle(std::chrono::steady_clock::time_point::max());
  pool_->join();
  system_.reset();  // waits for the actors that are still quitting
}

job_runner::job_id job_runner::start(job_config cfg,
                                     std::shared_ptr<const job_data> data,
                                     replicas_options options,
                                     progress_callback progress,
                                     done_callback done) {
  auto j = std::make_shared<job>();
  j->cfg = std::move(cfg);
  j->data = std::move(data);
  j->options = std::move(options);
  j->progress = std::move(progress);
  j->done = std::move(done);
  {
    std::lock_guard guard(mutex_);
    j->id = next_id_++;
    j->stop_requested = stopping_all_;
    jobs_[j->id] = j;
  }
  boost::asio::post(*pool_, [this, j] { prepare(j); });
  return j->id;
}

void job_runner::stop(job_id id) {
  std::lock_guard guard(mutex_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  it->second->stop_requested = true;
  if (it->second->watcher) {
    caf::anon_send(it->second->watcher, stop_atom::value);
  }
}

void job_runner::stop_all() {
  std::lock_guard guard(mutex_);
  stopping_all_ = true;
  for (auto& [id, j] : jobs_) {
    j->stop_requested = true;
    if (j->watcher) caf::anon_send(j->watcher, stop_atom::value);
  }
}

std::size_t job_runner::running() const {
  std::lock_guard guard(mutex_);
  return jobs_.size();
}

bool job_runner::wait_idle(std::chrono::steady_clock::time_point deadline) {
  std::unique_lock lock(mutex_);
  return idle_.wait_until(lock, deadline, [this] { return jobs_.empty(); });
}

expected<std::shared_ptr<job_store>> job_runner::store_for(
    const job_config& cfg, const mlp_shape& shape) {
  const auto options = store_options_of(cfg, shape);
  auto make = [&]() -> expected<std::shared_ptr<job_store>> {
    auto made = make_store(options, shape.size());
    if (!made) return made.error();
    return std::make_shared<job_store>(std::move(*made));
  };
  // The embedded store is one job's; a memcached store is shared.
  if (options.kind != store_backend::memcached) return make();
  const auto key = store_key(options.memcached, shape.size());
  std::lock_guard guard(mutex_);
  if (auto it = stores_.find(key); it != stores_.end()) {
    if (auto shared = it->second.lock()) return shared;
  }
  auto made = make();
  if (!made) return made;
  for (auto it = stores_.begin(); it != stores_.end();) {
    it = it->second.expired() ? stores_.erase(it) : std::next(it);
  }
  stores_[key] = *made;
  return made;
}

expected<void> job_runner::claim_replicas(
    const std::shared_ptr<job>& j, const std::vector<std::uint32_t>& ids) {
  auto& records = *j->store->records;
  const std::string& name = j->cfg.sync.job;
  const bool any = j->options.any_free > 0;
  auto take = [&](std::uint32_t id) -> expected<void> {
    auto claim = claim_replica(records, name, id, j->holder, any);
    if (!claim) return claim.error();
    // Resumed: some replica goes on from progress stored before. Not the
    // first train call of a job that emnist-setup only created.
    if (claim->start.steps > 0 || claim->start.epochs > 0) j->resumed = true;
    j->starts.push_back(claim->start);
    j->tokens[id] = claim->token;
    return {};
  };
  if (j->options.any_free == 0) {
    for (const auto id : ids) {
      if (auto taken = take(id); !taken) {
        release_claims(j);
        return taken.error();
      }
    }
    return {};
  }
  // The first free ones: a replica that another call claims first is
  // passed over.
  std::optional<error> last;
  for (const auto id : ids) {
    if (j->starts.size() == j->options.any_free) break;
    auto taken = take(id);
    if (taken) continue;
    if (taken.error().code != errc::aborted) {
      release_claims(j);
      return taken.error();
    }
    last = taken.error();
  }
  if (j->starts.size() < j->options.any_free) {
    release_claims(j);
    return make_error(errc::aborted,
                      "job '" + name + "' has no free replica: all " +
                          std::to_string(ids.size()) +
                          " run in other calls or are done (name one with "
                          "worker_id)");
  }
  return {};
}

void job_runner::release_claims(const std::shared_ptr<job>& j) {
  // Best effort: the records as they were, so that nobody waits for a
  // heartbeat that will not come (they count as abandoned in time anyway).
  for (auto& start : j->starts) {
    auto it = j->tokens.find(start.id);
    if (it == j->tokens.end()) continue;
    auto back = start;
    back.done = true;
    back.stop = "interrupted";
    std::promise<void> written;
    j->store->records->replace_record(
        replica_record_name(start.id), encode_record(back), it->second,
        [&](expected<std::uint64_t>) { written.set_value(); });
    written.get_future().wait();
  }
  j->starts.clear();
  j->tokens.clear();
}

void job_runner::prepare(std::shared_ptr<job> j) {
  auto fail = [&](error e) {
    finish(j, std::move(e));
  };
  const auto& cfg = j->cfg;
  auto shape = shape_for(cfg, *j->data);
  if (!shape) return fail(shape.error());
  j->shape = *shape;
  auto ids = replica_ids(cfg, *j->data, j->options.ids);
  if (!ids) return fail(ids.error());
  auto store = store_for(cfg, *shape);
  if (!store) return fail(store.error());
  j->store = *store;
  // The job's counters start here, before its set-up talks to the store:
  // a server lost while the job is created is the job's failover too (it
  // was subtracted away when they started after).
  j->stats_before = j->store->parameters->stats();
  j->holder = new_holder();
  auto& records = *j->store->records;
  if (j->options.start == job_start::create) {
    std::vector<float> initial(shape->size());
    init_parameters(*shape,
                    seed_for(static_cast<std::uint64_t>(cfg.model.seed), 0,
                             rng_stream::init),
                    initial);
    auto made =
        set_up_job(*j->store, cfg, *shape, initial, setup_mode::replace_idle);
    if (!made) return fail(made.error());
    j->meta = std::move(*made);
  } else {
    if (cfg.sync.store == store_kind::memory) {
      return fail(make_error(
          errc::invalid_argument,
          "--resume: the embedded store (sync.store = memory) keeps nothing "
          "between runs; resume needs memcached"));
    }
    auto joined = join_job(records, cfg, *shape);
    if (!joined) return fail(joined.error());
    j->meta = std::move(*joined);
  }
  if (j->options.prepare_only) return finish(j, simulation_result{});
  // Each replica's slot, claimed: a replica never runs in two calls.
  auto claimed = claim_replicas(j, *ids);
  if (!claimed) return fail(claimed.error());

  // The watcher: the coordinator's listener, the job's cancellation and
  // its end. The job goes in as an argument: CAF 0.17 dereferences a null
  // argument tuple when a function actor takes none (UBSan sees it).
  auto watcher = system_->spawn(
      [this](caf::event_based_actor* self,
             std::shared_ptr<job> run) -> caf::behavior {
        const auto settings = settings_of(run->cfg);
        coordinator_setup setup;
        setup.settings = settings.coordinator;
        setup.replica = settings.replica;
        setup.evaluator = settings.evaluator;
        setup.data = run->data.get();
        setup.shape = run->shape;
        setup.store = run->store->parameters;
        setup.ledger = std::make_shared<store_ledger>(
            run->store->records, run->meta, run->holder, run->tokens,
            run->starts.size() !=
                static_cast<std::size_t>(run->cfg.train.replicas));
        setup.listener = caf::actor_cast<caf::actor>(self);
        setup.start = run->starts;
        auto coordinator = spawn_coordinator(self->system(), std::move(setup));
        if (run->stop_requested) self->send(coordinator, stop_atom::value);
        return {
            [run](const progress_report& p) {
              if (run->progress) run->progress(p);
            },
            [self, coordinator](stop_atom) {
              self->send(coordinator, stop_atom::value);
            },
            [this, self, run](failed_atom, error& e) {
              self->quit();
              finish_later(run, std::move(e));
            },
            [this, self, run](done_atom, simulation_result& result) {
              self->quit();
              // The store's parameters, once this process's pushes landed.
              auto r = std::make_shared<simulation_result>(std::move(result));
              r->load_seconds = run->data->load_seconds;
              r->resumed = run->resumed;
              r->final_parameters.resize(run->shape.size());
              run->store->parameters->fetch(
                  r->final_parameters, parameter_store::mixed_version,
                  [this, run, r](expected<std::uint64_t> fetched) mutable {
                    // The job (and its store) must not end on the store's own
                    // thread: its only reference goes to the pool.
                    auto mine = std::move(run);
                    if (!fetched)
                      return finish_later(std::move(mine), fetched.error());
                    r->sync = stats_between(mine->stats_before,
                                            mine->store->parameters->stats());
                    finish_later(std::move(mine), std::move(*r));
                  });
            },
            caf::after(progress_silence_limit) >>
                [this, self, run, coordinator] {
                  self->send_exit(coordinator, caf::exit_reason::kill);
                  self->quit();
                  finish_later(run, make_error(errc::internal,
                                               "the job sent no progress for 5 "
                                               "minutes: stopped"));
                },
        };
      },
      j);
  std::lock_guard guard(mutex_);
  j->watcher = watcher;
  // A stop that came while the watcher started may have found no watcher.
  if (j->stop_requested) caf::anon_send(watcher, stop_atom::value);
}

void job_runner::finish_later(std::shared_ptr<job> j,
                              expected<simulation_result> result) {
  // Off the actor's (or the store's) thread: `done` may block.
  boost::asio::post(*pool_,
                    [this, j = std::move(j), r = std::move(result)]() mutable {
                      finish(j, std::move(r));
                    });
}

void job_runner::finish(const std::shared_ptr<job>& j,
                        expected<simulation_result> result) {
  try {
    j->done(std::move(result));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "emnist: job %llu: its completion threw: %s\n",
                 static_cast<unsigned long long>(j->id), e.what());
  }
  std::lock_guard guard(mutex_);
  j->watcher = nullptr;
  jobs_.erase(j->id);
  idle_.notify_all();
}

}  // namespace emnist
