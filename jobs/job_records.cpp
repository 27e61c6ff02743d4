// The formats of a job's records: metadata, replica progress, the driver's
// notes (jobs/job_lifecycle.cpp has the operations on them).
#include "jobs/job_records.hpp"

#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>

#include "runtime/store/crc32c.hpp"

namespace emnist {
namespace {

namespace json = boost::json;

constexpr const char* meta_format = "emnist job metadata";
constexpr const char* record_format = "emnist replica progress";
constexpr const char* driver_format = "emnist replica driver";
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

/// A string field of `o`, or `fallback` when absent; nullopt when it is
/// there but not a string.
std::optional<std::string> text_field(const json::object& o, const char* f,
                                      std::string fallback) {
  const auto* v = o.if_contains(f);
  if (v == nullptr) return fallback;
  if (!v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

template <class T>
bool parse_number(const std::string& s, T& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

}  // namespace

std::string encode_meta(const job_metadata& m) {
  json::object settings;
  for (const auto& [k, v] : m.entries) settings[k] = json::parse(v);
  json::object inherited;
  for (const auto& [k, v] : m.inherited) inherited[k] = json::parse(v);
  json::object o{{"format", meta_format},
                 {"version", record_version},
                 {"settings", std::move(settings)},
                 {"inherited", std::move(inherited)},
                 {"hash", m.hash},
                 {"state", m.state},
                 {"id", m.id}};
  return json::serialize(o);
}

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
  auto state = text_field(*o, "state", "ready");
  if (!state || (*state != "ready" && *state != "creating")) {
    return make_error(errc::data_loss, "'" + key +
                                           "': \"state\" is not \"ready\" or "
                                           "\"creating\"");
  }
  m.state = *state;
  auto id = text_field(*o, "id", "");
  if (!id)
    return make_error(errc::data_loss, "'" + key + "': \"id\" is not a string");
  m.id = *id;
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
  if (!r.holder.empty()) o["holder"] = r.holder;
  if (r.reached_at_ms != 0) o["reached_at_ms"] = r.reached_at_ms;
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
  if (const auto* v = o->if_contains("reached_at_ms"); v != nullptr) {
    if (!v->is_int64() || v->get_int64() < 0) {
      return bad("reached_at_ms", "expected Unix milliseconds");
    }
    r.reached_at_ms = v->get_int64();
  }
  if (const auto* v = o->if_contains("holder"); v != nullptr) {
    const auto* text_value = v->if_string();
    if (text_value == nullptr) return bad("holder", "expected a string");
    r.holder = std::string(*text_value);
  }
  return r;
}

std::string encode_driver(const driver_note& d) {
  json::array slots;
  for (const auto& s : d.slots) {
    slots.push_back(json::object{{"state", s.state},
                                 {"reason", s.reason},
                                 {"since_ms", s.since_ms},
                                 {"calls", s.calls}});
  }
  json::object o{{"format", driver_format},
                 {"version", record_version},
                 {"job_id", d.job_id},
                 {"host", d.host},
                 {"heartbeat_ms", d.heartbeat_ms},
                 {"slots", std::move(slots)}};
  return json::serialize(o);
}

expected<driver_note> decode_driver(const std::string& text,
                                    const std::string& key) {
  auto o = parse_record(text, driver_format, key);
  if (!o) return o.error();
  auto bad = [&](const std::string& what) {
    return make_error(errc::data_loss, "'" + key + "': " + what);
  };
  driver_note d;
  auto job_id = text_field(*o, "job_id", "");
  auto host = text_field(*o, "host", "");
  if (!job_id || !host) return bad("\"job_id\" or \"host\" is not a string");
  d.job_id = *job_id;
  d.host = *host;
  const auto* hb = o->if_contains("heartbeat_ms");
  if (hb == nullptr || !hb->is_int64())
    return bad("\"heartbeat_ms\": expected Unix milliseconds");
  d.heartbeat_ms = hb->get_int64();
  const auto* slots = o->if_contains("slots");
  if (slots == nullptr || !slots->is_array())
    return bad("\"slots\": expected an array");
  for (const auto& v : slots->get_array()) {
    const auto* s = v.if_object();
    if (s == nullptr) return bad("a slot is not an object");
    slot_note n;
    auto state = text_field(*s, "state", "");
    auto reason = text_field(*s, "reason", "");
    if (!state || !reason)
      return bad("a slot's \"state\" or \"reason\" is not a string");
    n.state = *state;
    n.reason = *reason;
    const auto* since = s->if_contains("since_ms");
    const auto* calls = s->if_contains("calls");
    if (since == nullptr || !since->is_int64() || calls == nullptr ||
        !(calls->is_int64() || calls->is_uint64())) {
      return bad("a slot's \"since_ms\" or \"calls\" is not a number");
    }
    n.since_ms = since->get_int64();
    n.calls = calls->is_uint64()
                  ? calls->get_uint64()
                  : static_cast<std::uint64_t>(
                        std::max<std::int64_t>(calls->get_int64(), 0));
    d.slots.push_back(std::move(n));
  }
  return d;
}

}  // namespace emnist
