// Stores made from the deployment's sync.* with a job's name; a few record
// stores kept, and each job's status cached for a moment.
#include "jobs/job_registry.hpp"

#include <algorithm>

#include "jobs/store_config.hpp"
#include "runtime/store/store_factory.hpp"

namespace emnist {

namespace {
/// Jobs whose record connections are kept, and statuses cached.
constexpr std::size_t kept_stores = 8;
constexpr std::size_t kept_statuses = 64;
}  // namespace

job_registry::job_registry(job_config deployment)
    : deployment_(std::move(deployment)) {}

job_config job_registry::config_of(const std::string& job) const {
  auto cfg = deployment_;
  cfg.sync.job = job;
  return cfg;
}

expected<job_metadata> job_registry::create(const job_config& cfg,
                                            const mlp_shape& shape,
                                            std::span<const float> initial,
                                            bool replace) {
  // Where the store is comes from the deployment, whatever cfg says.
  auto in_store = cfg;
  in_store.sync.store = deployment_.sync.store;
  in_store.sync.servers = deployment_.sync.servers;
  in_store.sync.timeout_ms = deployment_.sync.timeout_ms;
  in_store.sync.retry_ms = deployment_.sync.retry_ms;
  auto store = make_store(store_options_of(in_store, shape), shape.size());
  if (!store) return store.error();
  auto made = set_up_job(*store, in_store, shape, initial,
                         replace ? setup_mode::replace : setup_mode::create,
                         std::chrono::seconds(std::max<std::int64_t>(
                             30, deployment_.http.shutdown_seconds + 5)));
  std::lock_guard guard(mutex_);
  cache_.erase(cfg.sync.job);
  return made;
}

expected<std::shared_ptr<record_store>> job_registry::records(
    const std::string& job) {
  {
    std::lock_guard guard(mutex_);
    if (auto it = stores_.find(job); it != stores_.end()) return it->second;
  }
  auto made = make_store(store_options_of(config_of(job), mlp_shape{}), 0);
  if (!made) return made.error();
  std::lock_guard guard(mutex_);
  if (stores_.size() >= kept_stores) stores_.clear();
  stores_[job] = made->records;
  return made->records;
}

expected<job_status> job_registry::status(const std::string& job,
                                          std::chrono::milliseconds max_age) {
  {
    std::lock_guard guard(mutex_);
    if (auto it = cache_.find(job);
        it != cache_.end() &&
        std::chrono::steady_clock::now() - it->second.read_at < max_age) {
      return it->second.status;
    }
  }
  auto store = records(job);
  if (!store) return store.error();
  auto s = read_job_status(**store, job);
  std::lock_guard guard(mutex_);
  if (!s) {
    // A client that gave up on a server stays failed: the next read
    // connects afresh.
    if (s.error().code == errc::unavailable) stores_.erase(job);
    return s;
  }
  if (cache_.size() >= kept_statuses) cache_.clear();
  cache_[job] = {std::chrono::steady_clock::now(), *s};
  return s;
}

std::vector<std::string> job_registry::settings_of(const job_status& s) {
  // Every stored setting that is a key of the config, as a --set: how the
  // job trains (which a call may change), then what defines it.
  std::vector<std::string> settings;
  const auto keys = config_keys();
  for (const auto* group : {&s.meta.inherited, &s.meta.entries}) {
    for (const auto& [key, value] : *group) {
      const std::string& k = key;
      if (std::any_of(keys.begin(), keys.end(),
                      [&](const config_key_info& i) { return i.path == k; })) {
        settings.push_back(key + "=" + value);
      }
    }
  }
  return settings;
}

expected<job_model> job_registry::model(const std::string& job) const {
  return read_job_model(config_of(job));
}

}  // namespace emnist
