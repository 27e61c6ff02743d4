// Job metadata and replica progress records in the store, and the blocking
// set-up, join and status helpers.
#include "runtime/store/job_state.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>

#include "runtime/store/crc32c.hpp"

namespace emnist {
namespace {

namespace json = boost::json;

constexpr const char* meta_name = meta_record_name;
constexpr const char* meta_format = "emnist job metadata";
constexpr const char* record_format = "emnist replica progress";
constexpr std::int64_t record_version = 2;

/// A double in its shortest round-trip form: the text the metadata compares
/// (0.1, not 0.10000000000000001), the same after a JSON round trip.
std::string real_text(double v) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  std::string s(buf, ec == std::errc{} ? end : buf);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

/// A JSON value as the metadata's entries write it.
std::string value_text(const json::value& v) {
  if (v.is_double()) return real_text(v.get_double());
  return json::serialize(v);
}

std::string quoted(const std::string& s) {
  return json::serialize(json::string(s));
}

// Blocking adapters over the store's completions.
expected<std::optional<std::string>> read_now(record_store& store,
                                              const std::string& name) {
  std::promise<expected<std::optional<std::string>>> p;
  auto f = p.get_future();
  store.read_record(name, [&p](expected<std::optional<std::string>> r) {
    p.set_value(std::move(r));
  });
  return f.get();
}

expected<void> write_now(record_store& store, const std::string& name,
                         std::string value) {
  std::promise<expected<void>> p;
  auto f = p.get_future();
  store.write_record(name, std::move(value),
                     [&p](expected<void> r) { p.set_value(std::move(r)); });
  return f.get();
}

expected<void> erase_now(record_store& store, const std::string& name) {
  std::promise<expected<void>> p;
  auto f = p.get_future();
  store.erase_record(name,
                     [&p](expected<void> r) { p.set_value(std::move(r)); });
  return f.get();
}

/// The JSON object of a record of `format`; errors name `key` and say
/// what is wrong (not JSON, at which offset; another program's record; a
/// newer format).
expected<json::object> parse_record(const std::string& text, const char* format,
                                    const std::string& key) {
  json::error_code ec;
  json::parser p;
  // Consumes all of `text` (a value and nothing after it) or says where it
  // stopped.
  const std::size_t used = p.write(text.data(), text.size(), ec);
  if (ec) {
    return make_error(errc::data_loss,
                      "'" + key + "': not a JSON record (byte " +
                          std::to_string(used) + ": " + ec.message() + ")");
  }
  json::value v = p.release();
  const auto* o = v.if_object();
  const auto* f = o != nullptr ? o->if_contains("format") : nullptr;
  if (f == nullptr || !f->is_string() || f->get_string() != format) {
    return make_error(errc::data_loss, "'" + key +
                                           "': not a record of this "
                                           "program (\"format\" is not \"" +
                                           std::string(format) + "\")");
  }
  const auto* ver = o->if_contains("version");
  if (ver == nullptr || !ver->is_int64() || ver->get_int64() > record_version) {
    return make_error(errc::data_loss,
                      "'" + key + "': format version " +
                          (ver ? json::serialize(*ver) : std::string("none")) +
                          ", this program reads up to " +
                          std::to_string(record_version));
  }
  return std::move(*v.if_object());
}

std::string encode_meta(const job_metadata& m) {
  json::object settings;
  for (const auto& [k, v] : m.entries) settings[k] = json::parse(v);
  json::object inherited;
  for (const auto& [k, v] : m.inherited) inherited[k] = json::parse(v);
  json::object o{{"format", meta_format},
                 {"version", record_version},
                 {"settings", std::move(settings)},
                 {"inherited", std::move(inherited)},
                 {"hash", m.hash}};
  return json::serialize(o);
}

template <class T>
bool parse_number(const std::string& s, T& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

}  // namespace

expected<job_metadata> decode_meta(const std::string& text,
                                   const std::string& key) {
  auto o = parse_record(text, meta_format, key);
  if (!o) return o.error();
  const auto* settings = o->if_contains("settings");
  const auto* hash = o->if_contains("hash");
  if (settings == nullptr || !settings->is_object() || hash == nullptr ||
      !hash->is_string()) {
    return make_error(errc::data_loss,
                      "'" + key +
                          "': \"settings\" (an object) or \"hash\" "
                          "(a string) missing");
  }
  job_metadata m;
  for (const auto& [k, v] : settings->get_object()) {
    m.entries.emplace_back(std::string(k), value_text(v));
  }
  m.hash = std::string(hash->get_string());
  // Absent in the records of jobs set up before it existed.
  if (const auto* inherited = o->if_contains("inherited")) {
    if (!inherited->is_object()) {
      return make_error(errc::data_loss,
                        "'" + key + "': \"inherited\" is not an object");
    }
    for (const auto& [k, v] : inherited->get_object()) {
      m.inherited.emplace_back(std::string(k), value_text(v));
    }
  }
  return m;
}

const std::vector<std::string>& inherited_job_keys() {
  // Not train.max_seconds: that is the function's own exec timeout.
  static const std::vector<std::string> keys{
      "train.max_epochs",   "train.eval_every",  "sync.fetch_every",
      "sync.push_every",    "sync.push_backlog", "sync.max_coalesced_steps",
      "sync.max_staleness", "sync.push_reads"};
  return keys;
}

job_metadata describe_job(const job_config& cfg, const mlp_shape& shape) {
  job_metadata m;
  auto add = [&](const char* k, std::string v) {
    m.entries.emplace_back(k, std::move(v));
  };
  add("data.split", quoted(cfg.data.split));
  add("data.train", quoted(cfg.data.train));
  add("data.eval", quoted(cfg.data.eval));
  add("model.inputs", std::to_string(shape.inputs));
  add("model.hidden", std::to_string(shape.hidden));
  add("model.classes", std::to_string(shape.classes));
  add("model.dropout", real_text(cfg.model.dropout));
  add("model.seed", std::to_string(cfg.model.seed));
  add("train.replicas", std::to_string(cfg.train.replicas));
  add("train.batch_size", std::to_string(cfg.train.batch_size));
  add("train.learning_rate", real_text(cfg.train.learning_rate));
  add("train.target_accuracy", real_text(cfg.train.target_accuracy));
  add("sync.block_bytes", std::to_string(cfg.sync.block_bytes));
  add("parameters", std::to_string(shape.size()));
  std::string all;
  for (const auto& [k, v] : m.entries) all += k + "=" + v + "\n";
  char hex[17];
  std::snprintf(hex, sizeof hex, "%08x%08x", crc32c(all.data(), all.size()),
                crc32c(all.data(), all.size(), 0x5eed));
  m.hash = hex;
  for (const auto& k : inherited_job_keys()) {
    m.inherited.emplace_back(k, json_value_of(cfg, k));
  }
  return m;
}

std::string replica_record_name(std::uint32_t id) {
  return "replica:" + std::to_string(id);
}

std::string encode_record(const replica_record& r) {
  json::object o{{"format", record_format},
                 {"version", record_version},
                 {"replica", r.id},
                 {"epochs", r.epochs},
                 {"steps", r.steps},
                 {"samples", r.samples},
                 {"accuracy", r.accuracy},
                 {"best_accuracy", r.best_accuracy},
                 {"heartbeat_ms", r.heartbeat_ms},
                 {"done", r.done},
                 {"reached", r.reached}};
  o["stop"] = r.stop.empty() ? json::value(nullptr) : json::value(r.stop);
  if (!r.error.empty()) o["error"] = r.error;
  return json::serialize(o);
}

expected<replica_record> decode_record(const std::string& text,
                                       const std::string& key) {
  auto o = parse_record(text, record_format, key);
  if (!o) return o.error();
  replica_record r;
  auto bad = [&](const char* field, const char* what) {
    return make_error(
        errc::data_loss,
        "'" + key + "', " + field + ": " + what +
            (o->contains(field) ? ", got " + json::serialize(o->at(field))
                                : std::string(", missing")));
  };
  auto unsigned_field = [&](const char* field, auto& out) -> bool {
    const auto* v = o->if_contains(field);
    if (v == nullptr) return false;
    if (v->is_uint64()) {
      out =
          static_cast<std::remove_reference_t<decltype(out)>>(v->get_uint64());
      return true;
    }
    if (v->is_int64() && v->get_int64() >= 0) {
      out = static_cast<std::remove_reference_t<decltype(out)>>(v->get_int64());
      return true;
    }
    return false;
  };
  for (const char* field : {"replica", "epochs", "steps", "samples"}) {
    bool ok = false;
    if (std::string_view(field) == "replica") ok = unsigned_field(field, r.id);
    if (std::string_view(field) == "epochs")
      ok = unsigned_field(field, r.epochs);
    if (std::string_view(field) == "steps") ok = unsigned_field(field, r.steps);
    if (std::string_view(field) == "samples") {
      ok = unsigned_field(field, r.samples);
    }
    if (!ok) return bad(field, "expected a count");
  }
  for (auto [field, out] : {std::pair{"accuracy", &r.accuracy},
                            std::pair{"best_accuracy", &r.best_accuracy}}) {
    const auto* v = o->if_contains(field);
    // Finite and in range (an overflowing number parses as infinity, which
    // would not encode back: found by the fuzzer).
    const double a =
        v != nullptr && v->is_number() ? v->to_number<double>() : std::nan("");
    if (!(a == -1 || (a >= 0 && a <= 1))) {
      return bad(field, "expected an accuracy from 0 to 1, or -1 for none");
    }
    *out = a;
  }
  if (const auto* v = o->if_contains("heartbeat_ms");
      v != nullptr && v->is_int64()) {
    r.heartbeat_ms = v->get_int64();
  } else if (v != nullptr && v->is_uint64()) {
    r.heartbeat_ms = static_cast<std::int64_t>(v->get_uint64());
  } else {
    return bad("heartbeat_ms", "expected Unix milliseconds");
  }
  for (auto [field, out] :
       {std::pair{"done", &r.done}, std::pair{"reached", &r.reached}}) {
    const auto* v = o->if_contains(field);
    if (v == nullptr || !v->is_bool())
      return bad(field, "expected true or false");
    *out = v->get_bool();
  }
  if (const auto* v = o->if_contains("stop"); v != nullptr && !v->is_null()) {
    const auto* text_value = v->if_string();
    const std::string stop = text_value ? std::string(*text_value) : "";
    if (stop != "target" && stop != "max_epochs" && stop != "max_seconds" &&
        stop != "interrupted" && stop != "failed") {
      return bad("stop",
                 "expected target, max_epochs, max_seconds, interrupted, "
                 "failed or null");
    }
    r.stop = stop;
  }
  if (const auto* v = o->if_contains("error"); v != nullptr) {
    const auto* text_value = v->if_string();
    if (text_value == nullptr) return bad("error", "expected a string");
    r.error = std::string(*text_value);
  }
  return r;
}

expected<void> create_job(const job_store& store, const job_config& cfg,
                          const mlp_shape& shape,
                          std::span<const float> initial) {
  // Clear the progress of an older job under this name first, so that no
  // replica of the new one resumes from it.
  std::uint32_t old_replicas = 0;
  auto& records = *store.records;
  if (auto old = read_now(records, meta_name); old && *old) {
    if (auto m = decode_meta(**old, meta_name)) {
      for (const auto& [k, v] : m->entries) {
        if (k == "train.replicas") parse_number(v, old_replicas);
      }
    }
  } else if (!old) {
    return old.error();
  }
  const auto replicas =
      std::max(old_replicas, static_cast<std::uint32_t>(cfg.train.replicas));
  for (std::uint32_t id = 0; id < replicas; ++id) {
    if (auto r = erase_now(records, replica_record_name(id)); !r) return r;
  }
  if (auto r = erase_now(records, reached_record_name); !r) return r;
  if (auto r = store.parameters->initialize(initial); !r) return r;
  return write_now(records, meta_name, encode_meta(describe_job(cfg, shape)));
}

std::string meta_record_value(const job_config& cfg, const mlp_shape& shape) {
  return encode_meta(describe_job(cfg, shape));
}

expected<job_metadata> join_job(record_store& store, const job_config& cfg,
                                const mlp_shape& shape) {
  auto text = read_now(store, meta_name);
  if (!text) return text.error();
  if (!*text) {
    return make_error(errc::not_found,
                      "job '" + cfg.sync.job +
                          "' is not set up in the store (no metadata): set it "
                          "up first (emnist simulate without --resume, or "
                          "emnist-setup)");
  }
  auto stored = decode_meta(**text, meta_name);
  if (!stored) return stored.error();
  const auto mine = describe_job(cfg, shape);
  for (const auto& [k, v] : mine.entries) {
    const std::string& key = k;  // (clang 14 captures no structured binding)
    auto it = std::find_if(stored->entries.begin(), stored->entries.end(),
                           [&](const auto& e) { return e.first == key; });
    const std::string theirs =
        it == stored->entries.end() ? "(not set)" : it->second;
    if (theirs != v) {
      return make_error(errc::invalid_argument,
                        "job '" + cfg.sync.job + "' was set up with " + k +
                            " = " + theirs + ", but this replica has " + k +
                            " = " + v +
                            ": refusing to join a job with another config");
    }
  }
  return stored;
}

expected<std::optional<replica_record>> read_replica(record_store& store,
                                                     std::uint32_t id) {
  const std::string name = replica_record_name(id);
  auto text = read_now(store, name);
  if (!text) return text.error();
  if (!*text) return std::optional<replica_record>{};
  auto r = decode_record(**text, name);
  if (!r) return r.error();
  return std::optional<replica_record>{*r};
}

expected<job_status> read_job_status(record_store& store,
                                     const std::string& job) {
  auto text = read_now(store, meta_name);
  if (!text) return text.error();
  if (!*text) {
    return make_error(errc::not_found,
                      "job '" + job + "' is not in the store (no metadata)");
  }
  auto meta = decode_meta(**text, meta_name);
  if (!meta) return meta.error();
  job_status s;
  s.meta = *meta;
  for (const auto& [k, v] : s.meta.entries) {
    if (k == "train.replicas") parse_number(v, s.replicas);
  }
  for (std::uint32_t id = 0; id < s.replicas; ++id) {
    auto r = read_replica(store, id);
    if (!r) return r.error();
    if (*r) {
      s.best_accuracy = std::max(s.best_accuracy, (*r)->best_accuracy);
      s.reached = s.reached || (*r)->reached;
    }
    s.records.push_back(*r);
  }
  return s;
}

}  // namespace emnist
