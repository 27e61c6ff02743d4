// Config loading: a table of keys (type, range, help) drives parsing of the
// TOML file, the environment aliases and the --set overrides alike.
#include "runtime/config/config.hpp"

#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <set>
#include <sstream>
#include <variant>

#include "base/printable.hpp"
#include "base/utf8.hpp"
#include "model/data_files.hpp"
#include "model/slice.hpp"
#include "runtime/net/address.hpp"

namespace emnist {
namespace {

using value =
    std::variant<std::int64_t, double, std::string, std::vector<std::string>>;

enum class kind { integer, real, text, text_list };

struct key_spec {
  std::string path;
  kind type;
  double min = 0;
  double max = 0;
  std::vector<std::string> choices;  ///< for text keys; empty: any text
  std::string help;
  std::function<void(job_config&, const value&)> set;
  std::function<value(const job_config&)> get;
  /// Further checks of a converted value: a message, or empty when fine.
  std::function<std::string(const value&)> check;
};

/// Checks a data selection such as "test[:100000]".
std::string check_slice(const value& v) {
  auto s = parse_slice(std::get<std::string>(v));
  return s ? std::string{} : s.error().message;
}

/// Checks every "host:port" of a server list.
std::string check_servers(const value& v) {
  for (const auto& server : std::get<std::vector<std::string>>(v)) {
    if (auto a = parse_server(server); !a) return a.error().message;
  }
  return {};
}

key_spec with_check(key_spec k, std::function<std::string(const value&)> c) {
  k.check = std::move(c);
  return k;
}

/// A key of kind `type` whose value, of C++ type T, is the field that
/// `field` (a generic lambda, for const and non-const configs) refers to.
template <class T, class Field>
key_spec field_key(std::string path, kind type, Field field, double lo,
                   double hi, std::vector<std::string> choices,
                   std::string help) {
  key_spec k{std::move(path), type, lo, hi, std::move(choices),
             std::move(help), {},   {}, {}};
  k.set = [field](job_config& c, const value& v) {
    field(c) = std::get<T>(v);
  };
  k.get = [field](const job_config& c) {
    return value{field(c)};
  };
  return k;
}

template <class Field>
key_spec integer_key(std::string path, Field field, std::int64_t lo,
                     std::int64_t hi, std::string help) {
  return field_key<std::int64_t>(std::move(path), kind::integer, field,
                                 double(lo), double(hi), {}, std::move(help));
}

template <class Field>
key_spec real_key(std::string path, Field field, double lo, double hi,
                  std::string help) {
  return field_key<double>(std::move(path), kind::real, field, lo, hi, {},
                           std::move(help));
}

template <class Field>
key_spec text_key(std::string path, Field field,
                  std::vector<std::string> choices, std::string help) {
  return field_key<std::string>(std::move(path), kind::text, field, 0, 0,
                                std::move(choices), std::move(help));
}

/// A text key whose choices stand for the values of an enum field.
template <class Enum, class Field>
key_spec enum_key(std::string path, Field field,
                  std::vector<std::pair<std::string, Enum>> names,
                  std::string help) {
  std::vector<std::string> choices;
  for (const auto& [name, _] : names) choices.push_back(name);
  key_spec k{std::move(path), kind::text, 0,  0, std::move(choices),
             std::move(help), {},         {}, {}};
  k.set = [field, names](job_config& c, const value& v) {
    for (const auto& [name, e] : names) {
      if (name == std::get<std::string>(v)) field(c) = e;
    }
  };
  k.get = [field, names](const job_config& c) {
    for (const auto& [name, e] : names) {
      if (e == field(c)) return value{name};
    }
    return value{std::string("?")};
  };
  return k;
}

template <class Field>
key_spec text_list_key(std::string path, Field field, std::string help) {
  return field_key<std::vector<std::string>>(std::move(path), kind::text_list,
                                             field, 0, 0, {}, std::move(help));
}

// A generic lambda, so that one accessor serves a const and a mutable
// config.
#define EMNIST_FIELD(expr) \
  [](auto& c) -> auto& {   \
    return c.expr;         \
  }

const std::vector<key_spec>& specs() {
  static const std::vector<key_spec> table = [] {
    std::vector<key_spec> t;
    t.push_back(text_key("data.dir", EMNIST_FIELD(data.dir), {},
                         "data directory; empty: --data, else EMNIST_DIR, "
                         "else data/emnist"));
    t.push_back(text_key("data.split", EMNIST_FIELD(data.split), known_splits(),
                         "EMNIST split"));
    t.push_back(with_check(text_key("data.train", EMNIST_FIELD(data.train), {},
                                    "training samples: train or test, "
                                    "optionally sliced like test[:100000]"),
                           check_slice));
    t.push_back(with_check(text_key("data.eval", EMNIST_FIELD(data.eval), {},
                                    "evaluation samples, e.g. test or "
                                    "test[100000:]"),
                           check_slice));
    t.push_back(text_key(
        "data.cache_dir", EMNIST_FIELD(data.cache_dir), {},
        "where gzip data files are kept inflated, so that later starts map "
        "them instead of inflating; empty: the data directory's .cache if "
        "it may be written, else $TMPDIR/emnist-cache-UID (/tmp without "
        "TMPDIR); \"off\": no cache"));
    t.push_back(integer_key("model.hidden", EMNIST_FIELD(model.hidden), 1,
                            65536, "hidden units (tanh)"));
    t.push_back(real_key("model.dropout", EMNIST_FIELD(model.dropout), 0.0,
                         0.95, "dropout probability of a hidden unit"));
    t.push_back(integer_key("model.seed", EMNIST_FIELD(model.seed), 0,
                            INT64_MAX, "seed of init, shuffling, dropout"));
    t.push_back(integer_key("model.inputs", EMNIST_FIELD(model.inputs), 0,
                            1 << 24, "pixels per image; 0: from the data"));
    t.push_back(integer_key("model.classes", EMNIST_FIELD(model.classes), 0,
                            256, "classes; 0: from the data"));
    t.push_back(integer_key("train.replicas", EMNIST_FIELD(train.replicas), 1,
                            1024, "training replicas (Downpour workers)"));
    t.push_back(integer_key("train.batch_size", EMNIST_FIELD(train.batch_size),
                            1, 65536, "samples per minibatch"));
    t.push_back(real_key("train.learning_rate",
                         EMNIST_FIELD(train.learning_rate), 1e-9, 100.0,
                         "SGD learning rate"));
    t.push_back(real_key("train.target_accuracy",
                         EMNIST_FIELD(train.target_accuracy), 0.0, 1.0,
                         "stop when test accuracy reaches this"));
    t.push_back(integer_key("train.max_epochs", EMNIST_FIELD(train.max_epochs),
                            1, 1000000, "stop after this many passes"));
    t.push_back(integer_key("train.eval_every", EMNIST_FIELD(train.eval_every),
                            0, INT64_MAX,
                            "evaluate every this many minibatches of the "
                            "job; 0: after each pass over the shards"));
    t.push_back(integer_key("train.max_seconds",
                            EMNIST_FIELD(train.max_seconds), 0, INT64_MAX,
                            "a replica's time budget per run (a function's "
                            "exec timeout), then it stops and can resume; "
                            "0: none"));
    t.push_back(enum_key<store_kind>(
        "sync.store", EMNIST_FIELD(sync.store),
        {{"memory", store_kind::memory}, {"memcached", store_kind::memcached}},
        "parameter store: memory (embedded) or memcached"));
    t.push_back(
        with_check(text_list_key("sync.servers", EMNIST_FIELD(sync.servers),
                                 "memcached pool, [\"host:port\", ...]"),
                   check_servers));
    t.push_back(text_key("sync.job", EMNIST_FIELD(sync.job), {},
                         "the job's key namespace in the store"));
    t.push_back(integer_key("sync.timeout_ms", EMNIST_FIELD(sync.timeout_ms), 1,
                            600000, "memcached connect and I/O timeout"));
    t.push_back(integer_key("sync.retry_ms", EMNIST_FIELD(sync.retry_ms), 0,
                            3600000,
                            "how long a store operation retries an "
                            "unreachable server before "
                            "sync.on_server_failure applies"));
    t.push_back(integer_key(
        "sync.write_interval_ms", EMNIST_FIELD(sync.write_interval_ms), 0,
        60000,
        "least time between two memcached writes of a block; the pushes "
        "of this process meanwhile share the next write"));
    t.push_back(real_key(
        "sync.max_view_age_ms", EMNIST_FIELD(sync.max_view_age_ms), -1.0,
        60000.0,
        "memcached: oldest this process's view of the store may be when a "
        "replica fetches from it; older, it is checked against memcached "
        "first (other processes' pushes); -1: never"));
    t.push_back(integer_key(
        "sync.lone_interval_ms", EMNIST_FIELD(sync.lone_interval_ms), 0, 60000,
        "memcached: after four times this long without another process's "
        "write to the job, this process's view may be this old and it "
        "writes each block every half of it; the first other write seen "
        "ends it; 0: never"));
    t.push_back(integer_key(
        "sync.max_unwritten", EMNIST_FIELD(sync.max_unwritten), 1, 1000000,
        "most pushes of this process that memcached has not stored yet; "
        "past it pushes wait (an outage pauses training)"));
    t.push_back(enum_key<server_failure_setting>(
        "sync.on_server_failure", EMNIST_FIELD(sync.on_server_failure),
        {{"fail", server_failure_setting::fail},
         {"failover", server_failure_setting::failover}},
        "a server unreachable for sync.retry_ms: fail "
        "the job, or failover to the other servers"));
    t.push_back(integer_key("sync.block_bytes", EMNIST_FIELD(sync.block_bytes),
                            1024, 999960,
                            "bytes of parameters per memcached value"));
    t.push_back(integer_key("sync.fetch_every", EMNIST_FIELD(sync.fetch_every),
                            1, 1000000, "fetch parameters every N steps"));
    t.push_back(integer_key("sync.push_every", EMNIST_FIELD(sync.push_every), 1,
                            1000000, "push the pending delta every N steps"));
    t.push_back(enum_key<push_backlog_policy>(
        "sync.push_backlog", EMNIST_FIELD(sync.push_backlog),
        {{"coalesce", push_backlog_policy::coalesce},
         {"wait", push_backlog_policy::wait}},
        "every delta buffer in flight: coalesce the next "
        "pushes into one, or wait (reproducible)"));
    t.push_back(integer_key(
        "sync.max_coalesced_steps", EMNIST_FIELD(sync.max_coalesced_steps), 1,
        1000000,
        "with push_backlog = coalesce: most steps a replica trains while "
        "its push is on its way, then it waits (an outage pauses training)"));
    t.push_back(integer_key("sync.max_staleness",
                            EMNIST_FIELD(sync.max_staleness), -1, 1000000,
                            "steps a replica may train past the fetch "
                            "behind its parameters before it waits for a "
                            "fresh one; 0: synchronous; -1: no bound"));
    t.push_back(enum_key<push_reads_setting>(
        "sync.push_reads", EMNIST_FIELD(sync.push_reads),
        {{"when_changed", push_reads_setting::when_changed},
         {"always", push_reads_setting::always}},
        "memcached: read a block before adding a delta "
        "only when another writer changed it since this "
        "process wrote it, or always"));
    t.push_back(integer_key("actors.prefetch", EMNIST_FIELD(actors.prefetch), 1,
                            4096, "minibatches the loader prepares ahead"));
    t.push_back(integer_key("actors.push_queue",
                            EMNIST_FIELD(actors.push_queue), 1, 64,
                            "deltas in flight from compute to sync"));
    t.push_back(integer_key("actors.scheduler_threads",
                            EMNIST_FIELD(actors.scheduler_threads), 0, 1024,
                            "threads that run every replica's loader and "
                            "compute and the coordinator; 0: one per core"));
    t.push_back(integer_key("actors.report_every",
                            EMNIST_FIELD(actors.report_every), 1, 1000000,
                            "minibatches between a replica's progress "
                            "reports to the coordinator"));
    t.push_back(integer_key("actors.eval_chunk",
                            EMNIST_FIELD(actors.eval_chunk), 1, 1 << 20,
                            "rows the evaluator scores per message"));
    t.push_back(text_key("http.listen", EMNIST_FIELD(http.listen), {},
                         "emnist serve: address:port to listen on"));
    t.push_back(integer_key("http.max_body_bytes",
                            EMNIST_FIELD(http.max_body_bytes), 1, 1 << 30,
                            "largest request body accepted (413 above)"));
    t.push_back(integer_key("http.max_inflight",
                            EMNIST_FIELD(http.max_inflight), 1, 100000,
                            "function calls at once; more get 429, and "
                            "/_/ready answers 429"));
    t.push_back(text_key("http.gateway_url", EMNIST_FIELD(http.gateway_url), {},
                         "the OpenFaaS gateway that setup fans out "
                         "through"));
    t.push_back(text_key("http.secret_file", EMNIST_FIELD(http.secret_file), {},
                         "a bearer token file; when it exists, every "
                         "route but health, ready and the live page "
                         "needs the token"));
    t.push_back(integer_key("http.shutdown_seconds",
                            EMNIST_FIELD(http.shutdown_seconds), 0, 3600,
                            "on SIGTERM: time to push and save progress"));
    t.push_back(integer_key("http.read_timeout_ms",
                            EMNIST_FIELD(http.read_timeout_ms), 1, 3600000,
                            "time a request may take to arrive"));
    t.push_back(integer_key("http.threads", EMNIST_FIELD(http.threads), 0, 1024,
                            "threads serving connections (emnist-predict "
                            "answers on them); 0: one per core"));
    t.push_back(text_key("predict.model", EMNIST_FIELD(predict.model), {},
                         "emnist-predict: a model file (.npz or .onnx); "
                         "empty: each call names a job (?job=J)"));
    return t;
  }();
  return table;
}

#undef EMNIST_FIELD

/// Keys that once existed: a config that still sets one is read with a
/// warning, not refused.
const std::map<std::string, std::string>& retired_keys() {
  static const std::map<std::string, std::string> keys = {
      {"actors.compute_nice",
       "compute shares the scheduler's threads now (one per core), so it "
       "has no thread of its own to make nicer"},
      {"sync.io_nice",
       "the store's threads run at the process's priority: nicer, they "
       "made every push wait behind training (docs/benchmarks.md)"},
  };
  return keys;
}

/// EMNIST_ variables that are not keys but are read elsewhere
/// (EMNIST_SERVE_MODE: the image's entrypoint, functions/entrypoint.sh).
bool is_other_emnist_variable(std::string_view name) {
  return name == "EMNIST_DIR" || name == "EMNIST_FUNCTION" ||
         name == "EMNIST_KERNELS" || name == "EMNIST_TEST_DATA" ||
         name == "EMNIST_SERVE_MODE";
}

const key_spec* find_spec(std::string_view path) {
  for (const auto& s : specs()) {
    if (s.path == path) return &s;
  }
  return nullptr;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min(
          {row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string unknown_key_message(std::string_view path) {
  std::string best;
  std::size_t best_d = 4;
  for (const auto& s : specs()) {
    const std::size_t d = edit_distance(path, s.path);
    if (d < best_d) {
      best_d = d;
      best = s.path;
    }
  }
  std::string msg = "unknown key '" + printable(path) + "'";
  if (!best.empty()) msg += " (did you mean " + best + "?)";
  return msg;
}

std::string describe(const toml::node& n) {
  std::ostringstream os;
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  os << n.type() << ' ';
  n.visit([&os](const auto& v) {
    if constexpr (toml::is_value<decltype(v)>) os << v;
  });
  return os.str();
}

expected<value> convert_value(const key_spec& spec, const toml::node& n,
                              const std::string& where);

/// Converts and checks one TOML value for `spec`. `where` is the prefix of
/// messages: "file:line" or "--set k=v" or "variable x".
expected<value> convert(const key_spec& spec, const toml::node& n,
                        const std::string& where) {
  auto v = convert_value(spec, n, where);
  if (v && spec.check) {
    if (auto why = spec.check(*v); !why.empty()) {
      return make_error(errc::invalid_argument,
                        where + ": " + spec.path + ": " + why);
    }
  }
  return v;
}

/// The type and range checks of convert().
expected<value> convert_value(const key_spec& spec, const toml::node& n,
                              const std::string& where) {
  auto fail = [&](std::string why) {
    return make_error(errc::invalid_argument,
                      where + ": " + spec.path + ": " + why);
  };
  switch (spec.type) {
    case kind::integer: {
      auto v = n.value_exact<std::int64_t>();
      if (!v) return fail("expected an integer, got " + describe(n));
      if (double(*v) < spec.min || double(*v) > spec.max) {
        // A bound past int64 is no bound: say "at least", not a number that
        // overflowed.
        constexpr double unbounded = 9.2e18;
        const std::string lo = std::to_string(std::int64_t(spec.min));
        if (spec.max >= unbounded) {
          return fail(std::to_string(*v) + " is out of range: at least " + lo);
        }
        return fail(std::to_string(*v) + " is out of range [" + lo + ", " +
                    std::to_string(std::int64_t(spec.max)) + "]");
      }
      return value{*v};
    }
    case kind::real: {
      std::optional<double> v;
      if (n.is_floating_point()) v = n.value<double>();
      if (n.is_integer()) v = double(*n.value<std::int64_t>());
      if (!v) return fail("expected a number, got " + describe(n));
      if (!(*v >= spec.min && *v <= spec.max)) {
        std::ostringstream os;
        os << *v << " is out of range [" << spec.min << ", " << spec.max << "]";
        return fail(os.str());
      }
      return value{*v};
    }
    case kind::text_list: {
      std::vector<std::string> list;
      if (auto one = n.value_exact<std::string>()) {
        list.push_back(*one);  // a single entry without brackets
      } else if (const auto* arr = n.as_array()) {
        for (const auto& item : *arr) {
          auto s = item.value_exact<std::string>();
          if (!s)
            return fail("expected an array of strings, got " + describe(n));
          list.push_back(*s);
        }
      } else {
        return fail("expected an array of strings, got " + describe(n));
      }
      if (list.empty()) return fail("expected at least one entry");
      return value{list};
    }
    case kind::text: {
      auto v = n.value_exact<std::string>();
      if (!v) return fail("expected a string, got " + describe(n));
      if (!spec.choices.empty() &&
          std::find(spec.choices.begin(), spec.choices.end(), *v) ==
              spec.choices.end()) {
        std::string list;
        for (const auto& c : spec.choices)
          list += (list.empty() ? "" : ", ") + c;
        return fail("'" + *v + "' is not one of: " + list);
      }
      return value{*v};
    }
  }
  return fail("unsupported type");
}

expected<void> apply_table(job_config& cfg, const toml::table& table,
                           const std::string& prefix, const std::string& file,
                           std::vector<std::string>* warnings) {
  for (const auto& [key, node] : table) {
    const std::string path = prefix.empty()
                                 ? std::string(key.str())
                                 : prefix + "." + std::string(key.str());
    const std::string where =
        file + ":" + std::to_string(node.source().begin.line);
    if (const auto* sub = node.as_table()) {
      if (prefix.empty()) {
        if (auto ok = apply_table(cfg, *sub, path, file, warnings); !ok) {
          return ok;
        }
        continue;
      }
    }
    if (auto retired = retired_keys().find(path);
        retired != retired_keys().end()) {
      if (warnings != nullptr) {
        warnings->push_back(where + ": '" + path + "' is no longer used (" +
                            retired->second + "): ignored");
      }
      continue;
    }
    const key_spec* spec = find_spec(path);
    if (spec == nullptr) {
      const bool is_section = prefix.empty() && !node.is_table();
      return make_error(
          errc::invalid_argument,
          where + ": " +
              (is_section && std::any_of(specs().begin(), specs().end(),
                                         [&](const key_spec& s) {
                                           return s.path.starts_with(path +
                                                                     ".");
                                         })
                   ? "'" + path + "' must be a table ([" + path + "])"
                   : unknown_key_message(path)));
    }
    auto v = convert(*spec, node, where);
    if (!v) return v.error();
    spec->set(cfg, *v);
  }
  return {};
}

/// Reads `text` as a TOML value; where it is not one, as a plain string.
toml::table parse_value(const std::string& text) {
  try {
    auto t = toml::parse("v = " + text);
    if (t.contains("v") && t.size() == 1) return t;
  } catch (const toml::parse_error&) {
    // Not a TOML value: taken as a plain string below.
  }
  toml::table t;
  t.insert("v", text);
  return t;
}

expected<void> apply_assignment(job_config& cfg, const std::string& path,
                                const std::string& text,
                                const std::string& where,
                                std::vector<std::string>* warnings) {
  if (auto retired = retired_keys().find(path);
      retired != retired_keys().end()) {
    if (warnings != nullptr) {
      warnings->push_back(where + ": '" + path + "' is no longer used (" +
                          retired->second + "): ignored");
    }
    return {};
  }
  const key_spec* spec = find_spec(path);
  if (spec == nullptr) {
    return make_error(errc::invalid_argument,
                      where + ": " + unknown_key_message(path));
  }
  // A config holds UTF-8 text, as TOML does: other bytes would be written
  // back (to_toml, a setup's overrides to its trains) as other text.
  if (const auto at = first_non_utf8(text)) {
    return make_error(errc::invalid_argument,
                      where + ": " + path +
                          ": the value is not UTF-8 text (byte " +
                          std::to_string(*at) + ", '" +
                          printable(text.substr(*at, 1)) + "')");
  }
  toml::table t = parse_value(text);
  const toml::node* n = t.get("v");
  // "--set data.train=test" parses as a string; "--set model.seed=007"
  // parses as an integer; a string key given a bare word gets the word.
  toml::table as_text;
  if ((spec->type == kind::text || spec->type == kind::text_list) &&
      !n->is_string() && !n->is_array()) {
    as_text.insert("v", text);
    n = as_text.get("v");
  }
  auto v = convert(*spec, *n, where);
  if (!v) return v.error();
  spec->set(cfg, *v);
  return {};
}

std::string format_value(const value& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const auto* list = std::get_if<std::vector<std::string>>(&v)) {
    toml::array arr;
    for (const auto& s : *list) arr.push_back(s);
    std::ostringstream os;
    os << arr;
    return os.str();
  }
  if (const auto* d = std::get_if<double>(&v)) {
    std::ostringstream os;
    os << *d;
    std::string s = os.str();
    if (s.find_first_of(".eE") == std::string::npos) s += ".0";
    return s;
  }
  std::ostringstream os;
  os << toml::value<std::string>(std::get<std::string>(v));
  return os.str();
}

}  // namespace

const std::map<std::string, std::string>& environment_aliases() {
  static const std::map<std::string, std::string> aliases = {
      {"alpha", "train.learning_rate"},
      {"hidden_size", "model.hidden"},
      {"pixels_per_image", "model.inputs"},
      {"num_labels", "model.classes"},
      {"dropout_percent", "model.dropout"},
      {"batch_size", "train.batch_size"},
      {"number_of_workers", "train.replicas"},
      {"iterations", "train.max_epochs"},
  };
  return aliases;
}

std::string environment_name(const std::string& key) {
  std::string name = "EMNIST_";
  for (char c : key) {
    name.push_back(c == '.' ? '_' : static_cast<char>(std::toupper(c)));
  }
  return name;
}

std::map<std::string, std::string> environment_from_process() {
  std::map<std::string, std::string> env;
  for (const auto& [name, _] : environment_aliases()) {
    if (const char* v = std::getenv(name.c_str())) env[name] = v;
  }
  if (const char* v = std::getenv("gateway_hostname")) {
    env["gateway_hostname"] = v;
  }
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos || !entry.starts_with("EMNIST_")) continue;
    env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  return env;
}

expected<job_config> load_config(const config_sources& sources) {
  job_config cfg;
  if (sources.file) {
    toml::table table;
    // A device or a pipe would read as whatever it yields (/dev/urandom:
    // nothing valid, or nothing at all): a config is a regular file.
    std::error_code ec;
    if (!std::filesystem::is_regular_file(*sources.file, ec)) {
      return make_error(
          errc::invalid_argument,
          *sources.file + ": " +
              (std::filesystem::exists(*sources.file, ec)
                   ? "not a regular file (a config is a TOML file)"
                   : "no such file"));
    }
    try {
      table = toml::parse_file(*sources.file);
    } catch (const toml::parse_error& e) {
      const auto& where = e.source().begin;
      return make_error(errc::invalid_argument,
                        *sources.file + ":" + std::to_string(where.line) + ":" +
                            std::to_string(where.column) + ": " +
                            std::string(e.description()));
    }
    if (auto ok = apply_table(cfg, table, "", *sources.file, sources.warnings);
        !ok) {
      return ok.error();
    }
  }
  for (const auto& [name, text] : sources.environment) {
    auto alias = environment_aliases().find(name);
    if (alias == environment_aliases().end()) continue;
    if (auto ok = apply_assignment(cfg, alias->second, text,
                                   "environment variable " + name + "=" + text,
                                   sources.warnings);
        !ok) {
      return ok.error();
    }
  }
  // The prototype named the gateway by host; its port was 8080.
  if (auto it = sources.environment.find("gateway_hostname");
      it != sources.environment.end() && !it->second.empty()) {
    cfg.http.gateway_url = "http://" + it->second + ":8080";
  }
  // EMNIST_<SECTION>_<KEY>: any key, read as a --set value.
  for (const auto& s : specs()) {
    const auto name = environment_name(s.path);
    auto it = sources.environment.find(name);
    if (it == sources.environment.end()) continue;
    if (auto ok = apply_assignment(
            cfg, s.path, it->second,
            "environment variable " + name + "=" + it->second, nullptr);
        !ok) {
      return ok.error();
    }
  }
  // An EMNIST_ variable that names no key is most likely a typo: say so,
  // with the closest name, rather than ignore it silently.
  if (sources.warnings != nullptr) {
    for (const auto& variable : sources.environment) {
      // (clang 14 cannot capture a structured binding in the lambdas below)
      const std::string& name = variable.first;
      if (!name.starts_with("EMNIST_") || is_other_emnist_variable(name)) {
        continue;
      }
      if (std::any_of(specs().begin(), specs().end(), [&](const key_spec& s) {
            return environment_name(s.path) == name;
          })) {
        continue;
      }
      if (std::any_of(retired_keys().begin(), retired_keys().end(),
                      [&](const auto& r) {
                        return environment_name(r.first) == name;
                      })) {
        sources.warnings->push_back("environment variable " + name +
                                    " sets a key that is no longer used: "
                                    "ignored");
        continue;
      }
      std::string best;
      std::size_t best_d = 4;
      for (const auto& s : specs()) {
        const std::size_t d = edit_distance(name, environment_name(s.path));
        if (d < best_d) {
          best_d = d;
          best = environment_name(s.path);
        }
      }
      sources.warnings->push_back(
          "environment variable " + name + " names no configuration key" +
          (best.empty() ? std::string(": ignored")
                        : " (did you mean " + best + "?): ignored"));
    }
  }
  for (const auto& o : sources.overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      return make_error(errc::invalid_argument,
                        "--set " + printable(o) + ": expected key=value");
    }
    if (auto ok = apply_assignment(cfg, o.substr(0, eq), o.substr(eq + 1),
                                   "--set " + printable(o), sources.warnings);
        !ok) {
      return ok.error();
    }
  }
  return cfg;
}

bool is_deployment_key(const std::string& path) {
  // Whole sections that are the process's: its data (loaded once, at
  // start), its threads, its HTTP server and the predict function.
  for (const char* section : {"data.", "actors.", "http.", "predict."}) {
    if (path.rfind(section, 0) == 0) return true;
  }
  // Where the store is, how long to wait for it and how this process
  // talks to it; a function's time budget (its exec timeout).
  static const std::set<std::string> keys{"sync.store",
                                          "sync.servers",
                                          "sync.timeout_ms",
                                          "sync.retry_ms",
                                          "sync.on_server_failure",
                                          "sync.block_bytes",
                                          "sync.write_interval_ms",
                                          "sync.max_unwritten",
                                          "sync.max_view_age_ms",
                                          "sync.lone_interval_ms",
                                          "train.max_seconds"};
  return keys.count(path) > 0;
}

std::vector<config_key_info> config_keys() {
  static const job_config defaults;
  std::vector<config_key_info> out;
  for (const auto& s : specs()) {
    std::string type = s.type == kind::integer     ? "integer"
                       : s.type == kind::real      ? "number"
                       : s.type == kind::text_list ? "strings"
                                                   : "string";
    out.push_back({s.path, type, s.help, format_value(s.get(defaults)),
                   is_deployment_key(s.path) ? "deployment" : "job"});
  }
  return out;
}

namespace {

/// A JSON string, also a TOML basic string.
std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += ch;
    } else if (c < 0x20 || c == 0x7f) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
      out += escaped;
    } else {
      out += ch;
    }
  }
  return out + "\"";
}

}  // namespace

std::string json_value_of(const job_config& cfg, const std::string& key) {
  const key_spec* s = find_spec(key);
  if (s == nullptr) return {};
  const value v = s->get(cfg);
  if (const auto* text = std::get_if<std::string>(&v))
    return json_string(*text);
  if (const auto* list = std::get_if<std::vector<std::string>>(&v)) {
    std::string out = "[";
    for (const auto& item : *list) {
      out += (out.size() > 1 ? "," : "") + json_string(item);
    }
    return out + "]";
  }
  return format_value(v);  // a number: the same text in JSON and TOML
}

std::string to_toml(const job_config& cfg) {
  std::string out;
  std::string section;
  for (const auto& s : specs()) {
    const auto dot = s.path.find('.');
    const std::string sec = s.path.substr(0, dot);
    if (sec != section) {
      out += (section.empty() ? "[" : "\n[") + sec + "]\n";
      section = sec;
    }
    out += s.path.substr(dot + 1) + " = " + format_value(s.get(cfg)) + "\n";
  }
  return out;
}

}  // namespace emnist
