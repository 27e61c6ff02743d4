// Job metadata and replica progress records in the store, and the blocking
// set-up, join and status helpers.
#include "runtime/store/job_state.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <future>
#include <sstream>

#include "runtime/store/crc32c.hpp"

namespace emnist {
namespace {

constexpr const char* meta_name = "meta";
constexpr const char* meta_magic = "# emnist job metadata, format 1";
constexpr const char* record_magic = "# emnist replica progress, format 1";

std::string real_text(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

std::string quoted(const std::string& s) {
  return "\"" + s + "\"";
}

// Blocking adapters over the store's completions.
expected<std::optional<std::string>> read_now(parameter_store& store,
                                              const std::string& name) {
  std::promise<expected<std::optional<std::string>>> p;
  auto f = p.get_future();
  store.read_record(name, [&p](expected<std::optional<std::string>> r) {
    p.set_value(std::move(r));
  });
  return f.get();
}

expected<void> write_now(parameter_store& store, const std::string& name,
                         std::string value) {
  std::promise<expected<void>> p;
  auto f = p.get_future();
  store.write_record(name, std::move(value),
                     [&p](expected<void> r) { p.set_value(std::move(r)); });
  return f.get();
}

expected<void> erase_now(parameter_store& store, const std::string& name) {
  std::promise<expected<void>> p;
  auto f = p.get_future();
  store.erase_record(name,
                     [&p](expected<void> r) { p.set_value(std::move(r)); });
  return f.get();
}

/// "key = value" lines after a first line `magic`; errors name `key` (the
/// store key) and the line.
expected<std::vector<std::pair<std::string, std::string>>> parse_lines(
    const std::string& text, const char* magic, const std::string& key) {
  std::istringstream in(text);
  std::string line;
  std::vector<std::pair<std::string, std::string>> out;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (number == 1) {
      if (line != magic) {
        return make_error(errc::data_loss,
                          "'" + key + "' line 1: expected '" + magic +
                              "' (not a record of this program)");
      }
      continue;
    }
    if (line.empty()) continue;
    const auto eq = line.find(" = ");
    if (eq == std::string::npos) {
      return make_error(errc::data_loss, "'" + key + "' line " +
                                             std::to_string(number) +
                                             ": expected 'key = value'");
    }
    out.emplace_back(line.substr(0, eq), line.substr(eq + 3));
  }
  if (number == 0) {
    return make_error(errc::data_loss, "'" + key + "': empty record");
  }
  return out;
}

std::string encode_meta(const job_metadata& m) {
  std::string s = std::string(meta_magic) + "\n";
  for (const auto& [k, v] : m.entries) s += k + " = " + v + "\n";
  s += "hash = " + m.hash + "\n";
  return s;
}

expected<job_metadata> decode_meta(const std::string& text,
                                   const std::string& key) {
  auto lines = parse_lines(text, meta_magic, key);
  if (!lines) return lines.error();
  job_metadata m;
  for (auto& [k, v] : *lines) {
    if (k == "hash") {
      m.hash = v;
    } else {
      m.entries.emplace_back(std::move(k), std::move(v));
    }
  }
  return m;
}

template <class T>
bool parse_number(const std::string& s, T& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

}  // namespace

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
  return m;
}

std::string replica_record_name(std::uint32_t id) {
  return "replica:" + std::to_string(id);
}

std::string encode_record(const replica_record& r) {
  std::string s = std::string(record_magic) + "\n";
  s += "replica = " + std::to_string(r.id) + "\n";
  s += "epochs = " + std::to_string(r.epochs) + "\n";
  s += "steps = " + std::to_string(r.steps) + "\n";
  s += "samples = " + std::to_string(r.samples) + "\n";
  s += "accuracy = " + real_text(r.accuracy) + "\n";
  s += "best_accuracy = " + real_text(r.best_accuracy) + "\n";
  s += "heartbeat_ms = " + std::to_string(r.heartbeat_ms) + "\n";
  s += std::string("done = ") + (r.done ? "true" : "false") + "\n";
  s += std::string("reached = ") + (r.reached ? "true" : "false") + "\n";
  if (!r.stop.empty()) s += "stop = " + r.stop + "\n";
  return s;
}

expected<replica_record> decode_record(const std::string& text,
                                       const std::string& key) {
  auto lines = parse_lines(text, record_magic, key);
  if (!lines) return lines.error();
  replica_record r;
  for (const auto& [k, v] : *lines) {
    bool ok = true;
    if (k == "replica") {
      ok = parse_number(v, r.id);
    } else if (k == "epochs") {
      ok = parse_number(v, r.epochs);
    } else if (k == "steps") {
      ok = parse_number(v, r.steps);
    } else if (k == "samples") {
      ok = parse_number(v, r.samples);
    } else if (k == "accuracy") {
      ok = parse_number(v, r.accuracy);
    } else if (k == "best_accuracy") {
      ok = parse_number(v, r.best_accuracy);
    } else if (k == "heartbeat_ms") {
      ok = parse_number(v, r.heartbeat_ms);
    } else if (k == "done" || k == "reached") {
      ok = v == "true" || v == "false";
      (k == "done" ? r.done : r.reached) = v == "true";
    } else if (k == "stop") {
      ok = v == "target" || v == "max_epochs" || v == "max_seconds" ||
           v == "interrupted" || v == "failed";
      r.stop = v;
    }  // unknown keys: written by a newer version, ignored
    if (!ok) {
      return make_error(errc::data_loss, "'" + key + "', " + k + ": '" + v +
                                             "' is not a valid value");
    }
  }
  return r;
}

expected<void> create_job(parameter_store& store, const job_config& cfg,
                          const mlp_shape& shape,
                          std::span<const float> initial) {
  // Clear the progress of an older job under this name first, so that no
  // replica of the new one resumes from it.
  std::uint32_t old_replicas = 0;
  if (auto old = read_now(store, meta_name); old && *old) {
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
    if (auto r = erase_now(store, replica_record_name(id)); !r) return r;
  }
  if (auto r = erase_now(store, reached_record_name); !r) return r;
  if (auto r = store.initialize(initial); !r) return r;
  return write_now(store, meta_name, encode_meta(describe_job(cfg, shape)));
}

expected<job_metadata> join_job(parameter_store& store, const job_config& cfg,
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
    auto it = std::find_if(stored->entries.begin(), stored->entries.end(),
                           [&](const auto& e) { return e.first == k; });
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

expected<std::optional<replica_record>> read_replica(parameter_store& store,
                                                     std::uint32_t id) {
  const std::string name = replica_record_name(id);
  auto text = read_now(store, name);
  if (!text) return text.error();
  if (!*text) return std::optional<replica_record>{};
  auto r = decode_record(**text, name);
  if (!r) return r.error();
  return std::optional<replica_record>{*r};
}

expected<job_status> read_job_status(parameter_store& store,
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
