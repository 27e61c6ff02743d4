// The job configuration: every tunable of data, model, training, sync and
// actors, from TOML files, the prototype's environment variables and
// `--set key=value` overrides, validated before anything starts.
//
//   config_sources src;
//   src.file = "config/default.toml";
//   src.overrides = {"train.replicas=3", "data.train=test[:100000]"};
//   src.environment = environment_from_process();
//   expected<job_config> cfg = load_config(src);
//   // errors name the file and line (or the --set / variable) and the key
//
// Precedence, lowest first: built-in defaults, the file, the prototype's
// environment variables (alpha, batch_size, ...), EMNIST_<SECTION>_<KEY>
// variables (EMNIST_SYNC_SERVERS for sync.servers), --set overrides.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace emnist {

/// sync.store: where a job's parameters live.
enum class store_kind {
  memory,     ///< embedded in the process
  memcached,  ///< a memcached pool shared by every replica of the job
};

/// sync.on_server_failure.
enum class server_failure_setting { fail, failover };

/// sync.push_reads.
enum class push_reads_setting { when_changed, always };

struct data_config {
  std::string dir;  ///< empty: --data, else EMNIST_DIR, else data/emnist
  std::string split = "bymerge";
  std::string train = "train";
  std::string eval = "test";
  /// Where gzip files are kept inflated (model/idx_cache.hpp): "" the data
  /// folder's .cache, else a private folder under $TMPDIR or /tmp; "off"
  /// none; else that folder.
  std::string cache_dir;
};

struct model_config {
  std::int64_t hidden = 100;
  double dropout = 0.2;
  std::int64_t seed = 1;
  std::int64_t inputs = 0;   ///< 0: from the data; else checked against it
  std::int64_t classes = 0;  ///< 0: from the data; else checked against it
};

struct train_config {
  std::int64_t replicas = 1;
  std::int64_t batch_size = 32;
  double learning_rate = 0.1;
  double target_accuracy = 0.75;
  std::int64_t max_epochs = 20;
  std::int64_t eval_every = 0;   ///< minibatches of the job; 0: each pass
  std::int64_t max_seconds = 0;  ///< a replica's time budget; 0: none
};

/// A push due while every delta buffer is in flight (sync.push_backlog).
enum class push_backlog_policy {
  coalesce,  ///< train on; the next push carries the steps since the last
  wait,      ///< wait for a buffer: each push covers exactly push_every
};

struct sync_config {
  store_kind store = store_kind::memory;
  std::vector<std::string> servers{"127.0.0.1:11211"};  ///< memcached pool
  std::string job = "emnist";          ///< key namespace in the store
  std::int64_t timeout_ms = 1000;      ///< memcached connect and I/O timeout
  std::int64_t retry_ms = 5000;        ///< retrying an unreachable server
  std::int64_t write_interval_ms = 2;  ///< least time between block writes
  std::int64_t max_unwritten = 64;     ///< pushes ahead of memcached
  /// Oldest this process's view of memcached may be when a replica reads
  /// it; older, it is checked first. -1: never checked.
  double max_view_age_ms = 2.0;
  /// Quiet this long (no other process's write seen), this process's view
  /// may be this old and its writes half as frequent; 0: never.
  std::int64_t lone_interval_ms = 16;
  server_failure_setting on_server_failure = server_failure_setting::fail;
  std::int64_t block_bytes = 262144;  ///< parameter block size in memcached
  std::int64_t fetch_every = 2;
  std::int64_t max_staleness = 2;  ///< own steps past a fetch; -1: any
  std::int64_t push_every = 2;
  push_backlog_policy push_backlog = push_backlog_policy::coalesce;
  std::int64_t max_coalesced_steps = 64;  ///< then a backlogged push waits
  push_reads_setting push_reads = push_reads_setting::when_changed;
};

struct actors_config {
  std::int64_t prefetch = 16;          ///< loader -> compute queue bound
  std::int64_t push_queue = 1;         ///< compute -> sync deltas in flight
  std::int64_t scheduler_threads = 0;  ///< every actor's threads; 0: cores
  std::int64_t report_every = 8;       ///< steps between progress reports
  std::int64_t eval_chunk = 256;       ///< rows per evaluator message
};

/// `emnist serve`: the HTTP entrypoint of the OpenFaaS functions.
struct http_config {
  std::string listen = "0.0.0.0:8080";
  std::int64_t max_body_bytes = 1 << 20;
  std::int64_t max_inflight = 8;  ///< requests at once; then 429
  std::string gateway_url = "http://gateway.openfaas:8080";
  std::string secret_file = "/var/openfaas/secrets/emnist-token";
  std::int64_t shutdown_seconds = 10;
  std::int64_t read_timeout_ms = 30000;
  std::int64_t threads = 0;  ///< threads serving connections; 0: cores
};

/// The emnist-predict function.
struct predict_config {
  std::string model;  ///< a model file (.npz, .onnx); empty: ?job=J only
};

struct job_config {
  data_config data;
  model_config model;
  train_config train;
  sync_config sync;
  actors_config actors;
  http_config http;
  predict_config predict;
};

struct config_sources {
  std::optional<std::string> file;     ///< a TOML file
  std::vector<std::string> overrides;  ///< "key=value", value read as TOML
  std::map<std::string, std::string> environment;  ///< name -> value
  /// Where warnings go (a retired key, an EMNIST_ variable that names no
  /// key); none when null. Each names where it comes from.
  std::vector<std::string>* warnings = nullptr;
};

/// The process environment restricted to the names the config reads, and
/// every other EMNIST_ variable (load_config warns about those that name no
/// key).
std::map<std::string, std::string> environment_from_process();
/// The environment variable of a key: "sync.servers" -> EMNIST_SYNC_SERVERS.
std::string environment_name(const std::string& key);

[[nodiscard]] expected<job_config> load_config(const config_sources& sources);

/// One documented key, for --help and the configuration reference.
struct config_key_info {
  std::string path;
  std::string type;
  std::string help;
  std::string default_value;
  /// "job": what a job may choose (its model, training and sync
  /// algorithm), in a request to the functions too; "deployment": what
  /// only whoever runs the process chooses (where the store is and how
  /// long to wait for it, the data, the process's threads, HTTP, secrets,
  /// a function's time budget), never a request.
  std::string scope;
};
std::vector<config_key_info> config_keys();

/// Whether `path` is a deployment key (config_key_info::scope): a request
/// to the functions that names one is refused.
[[nodiscard]] bool is_deployment_key(const std::string& path);

/// The prototype's environment variable names and the keys they set.
const std::map<std::string, std::string>& environment_aliases();

/// The whole configuration as TOML text (for logs and `--print-config`).
std::string to_toml(const job_config& cfg);
/// One key's value as JSON text, which TOML and `--set` read as the same
/// value ("0.1", "\"coalesce\"", "[\"a:1\"]"); empty when `key` names no
/// key.
std::string json_value_of(const job_config& cfg, const std::string& key);

}  // namespace emnist
