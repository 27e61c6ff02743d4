// Set-up, join, claims and status over a job's records, each a few blocking
// record operations.
#include "jobs/job_lifecycle.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <future>
#include <random>
#include <thread>

namespace emnist {
namespace {

using versioned = record_store::versioned;

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

expected<std::optional<versioned>> read_versioned_now(record_store& store,
                                                      const std::string& name) {
  std::promise<expected<std::optional<versioned>>> p;
  auto f = p.get_future();
  store.read_versioned(name, [&p](expected<std::optional<versioned>> r) {
    p.set_value(std::move(r));
  });
  return f.get();
}

expected<std::uint64_t> replace_now(record_store& store,
                                    const std::string& name, std::string value,
                                    std::uint64_t token) {
  std::promise<expected<std::uint64_t>> p;
  auto f = p.get_future();
  store.replace_record(
      name, std::move(value), token,
      [&p](expected<std::uint64_t> r) { p.set_value(std::move(r)); });
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

template <class T>
bool parse_number(const std::string& s, T& out) {
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc{} && ptr == s.data() + s.size();
}

std::uint32_t replicas_of(const job_metadata& m) {
  std::uint32_t n = 0;
  for (const auto& [k, v] : m.entries) {
    if (k == "train.replicas") parse_number(v, n);
  }
  return n;
}

std::string random_hex(int digits) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string s;
  for (int i = 0; i < digits; ++i) s += "0123456789abcdef"[rng() & 15];
  return s;
}

std::string seconds_text(std::int64_t ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(ms) / 1000.0);
  return buf;
}

/// Whether replica record `r` belongs to a call that runs now.
bool runs(const replica_record& r, std::int64_t now_ms) {
  return !r.done && now_ms - r.heartbeat_ms < abandoned_after_ms;
}

/// The first replica of `s` that runs now, if any.
std::optional<replica_record> a_running_replica(const job_status& s,
                                                std::int64_t now_ms) {
  for (const auto& r : s.records) {
    if (r && runs(*r, now_ms)) return r;
  }
  return std::nullopt;
}

std::string describe_state(const job_status& s, std::int64_t now_ms) {
  const std::string state = job_state_of(s, now_ms);
  std::string what = state;
  if (state == "running") {
    const auto r = a_running_replica(s, now_ms);
    what += " (replica " + std::to_string(r->id) + "'s heartbeat " +
            seconds_text(now_ms - r->heartbeat_ms) + " s ago)";
  } else if (s.best_accuracy >= 0) {
    char buf[48];
    std::snprintf(buf, sizeof buf, " (best accuracy %.4f%s)", s.best_accuracy,
                  s.reached ? ", target reached" : "");
    what += buf;
  }
  return what;
}

/// Tells the replicas of the job in `s` to stop and waits until none runs,
/// up to `wait`.
expected<void> stop_running(record_store& records, const std::string& job,
                            std::chrono::milliseconds wait) {
  if (auto w = write_now(records, stop_record_name, "stop = replaced\n"); !w) {
    return w;
  }
  const auto deadline = std::chrono::steady_clock::now() + wait;
  for (;;) {
    auto s = read_job_status(records, job);
    if (!s) return s.error();
    const auto running = a_running_replica(*s, unix_ms());
    if (!running) return {};
    if (std::chrono::steady_clock::now() >= deadline) {
      return make_error(errc::aborted,
                        "job '" + job + "': replica " +
                            std::to_string(running->id) + " still runs " +
                            std::to_string(wait.count() / 1000) +
                            " s after it was told to stop: not replaced");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

std::int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string new_holder() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, 8, "?");
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" +
         random_hex(8);
}

job_metadata new_job_metadata(const job_config& cfg, const mlp_shape& shape) {
  auto m = describe_job(cfg, shape);
  m.id = random_hex(16);
  m.state = "ready";
  return m;
}

std::string job_state_of(const job_status& s, std::int64_t now_ms) {
  if (s.meta.state == "creating") return "creating";
  if (a_running_replica(s, now_ms)) return "running";
  if (s.reached) return "finished";
  bool all_done = s.replicas > 0;
  for (const auto& r : s.records) {
    all_done = all_done && r && r->done && r->stop == "max_epochs";
  }
  return all_done ? "finished" : "idle";
}

expected<job_metadata> set_up_job(const job_store& store, const job_config& cfg,
                                  const mlp_shape& shape,
                                  std::span<const float> initial,
                                  setup_mode mode,
                                  std::chrono::milliseconds stop_wait) {
  auto& records = *store.records;
  const std::string& job = cfg.sync.job;
  auto meta = new_job_metadata(cfg, shape);
  auto creating = meta;
  creating.state = "creating";
  // Claim the name: only if there is none, or, replacing, only if it still
  // holds what was read (two set-ups at once: one goes on, one is told).
  auto old = read_versioned_now(records, meta_record_name);
  if (!old) return old.error();
  std::uint32_t old_replicas = 0;
  std::uint64_t token = 0;
  if (*old) {
    auto old_status = read_job_status(records, job);
    if (!old_status) {
      // A record that is not a job's (or of a newer format) is never
      // overwritten without being asked to.
      if (mode != setup_mode::replace) return old_status.error();
    } else {
      old_replicas = old_status->replicas;
      const auto now = unix_ms();
      const bool running = a_running_replica(*old_status, now).has_value();
      if (mode == setup_mode::create ||
          (mode == setup_mode::replace_idle && running)) {
        return make_error(
            errc::aborted,
            "job '" + job + "' exists: " + describe_state(*old_status, now) +
                (mode == setup_mode::create
                     ? "; set it up under another name, or ask to replace "
                       "it (\"replace\": true)"
                     : "; pick another sync.job, or stop it first"));
      }
      if (running) {
        if (auto stopped = stop_running(records, job, stop_wait); !stopped) {
          return stopped.error();
        }
        // The replicas' last saves moved the record on: read it again.
        old = read_versioned_now(records, meta_record_name);
        if (!old) return old.error();
      }
    }
    if (*old) token = (*old)->token;
  }
  auto claimed =
      replace_now(records, meta_record_name, encode_meta(creating), token);
  if (!claimed) {
    if (claimed.error().code == errc::aborted ||
        claimed.error().code == errc::not_found) {
      return make_error(errc::aborted,
                        "job '" + job +
                            "' is being set up by another call at the same "
                            "time: not set up twice");
    }
    return claimed.error();
  }
  // Clear the progress of an older job under this name, so that no
  // replica of the new one resumes from it.
  const auto replicas =
      std::max(old_replicas, static_cast<std::uint32_t>(cfg.train.replicas));
  for (std::uint32_t id = 0; id < replicas; ++id) {
    if (auto r = erase_now(records, replica_record_name(id)); !r) {
      return r.error();
    }
  }
  for (const char* name :
       {reached_record_name, stop_record_name, driver_record_name}) {
    if (auto r = erase_now(records, name); !r) return r.error();
  }
  if (auto r = store.parameters->initialize(initial); !r) return r.error();
  auto ready =
      replace_now(records, meta_record_name, encode_meta(meta), *claimed);
  if (!ready) {
    if (ready.error().code == errc::aborted ||
        ready.error().code == errc::not_found) {
      return make_error(errc::aborted,
                        "job '" + job +
                            "' was replaced by another call while it was "
                            "being set up");
    }
    return ready.error();
  }
  return meta;
}

expected<job_metadata> join_job(record_store& store, const job_config& cfg,
                                const mlp_shape& shape) {
  auto text = read_now(store, meta_record_name);
  if (!text) return text.error();
  if (!*text) {
    return make_error(errc::not_found,
                      "job '" + cfg.sync.job +
                          "' is not set up in the store (no metadata): set it "
                          "up first (emnist simulate without --resume, or "
                          "emnist-setup)");
  }
  auto stored = decode_meta(**text, meta_record_name);
  if (!stored) return stored.error();
  if (stored->state == "creating") {
    return make_error(errc::unavailable, "job '" + cfg.sync.job +
                                             "' is being set up: try again "
                                             "in a moment");
  }
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

expected<replica_claim> claim_replica(record_store& store,
                                      const std::string& job, std::uint32_t id,
                                      const std::string& holder,
                                      bool unfinished_only) {
  const std::string name = replica_record_name(id);
  auto read = read_versioned_now(store, name);
  if (!read) return read.error();
  replica_claim claim;
  claim.start.id = id;
  std::uint64_t token = 0;
  if (*read) {
    auto r = decode_record((*read)->value, name);
    if (!r) return r.error();
    const auto now = unix_ms();
    if (runs(*r, now)) {
      return make_error(errc::aborted,
                        "replica " + std::to_string(id) + " of job '" + job +
                            "' runs in another call (" +
                            (r->holder.empty() ? std::string("holder unknown")
                                               : "held by " + r->holder) +
                            ", heartbeat " +
                            seconds_text(now - r->heartbeat_ms) +
                            " s ago): not run twice");
    }
    if (unfinished_only && r->done && r->stop != "max_seconds" &&
        r->stop != "interrupted") {
      return make_error(errc::aborted, "replica " + std::to_string(id) +
                                           " of job '" + job +
                                           "' is finished (" + r->stop + ")");
    }
    claim.start = *r;
    token = (*read)->token;
  }
  // The claim: the stored progress, now held by this call and running.
  auto mine = claim.start;
  mine.holder = holder;
  mine.heartbeat_ms = unix_ms();
  mine.done = false;
  mine.stop.clear();
  mine.error.clear();
  auto written = replace_now(store, name, encode_record(mine), token);
  if (!written && written.error().code == errc::aborted) {
    // This claim's own write may have been applied, its reply lost.
    auto again = read_versioned_now(store, name);
    if (again && *again) {
      auto r = decode_record((*again)->value, name);
      if (r && r->holder == holder) written = (*again)->token;
    }
  }
  if (!written) {
    if (written.error().code == errc::aborted ||
        written.error().code == errc::not_found) {
      return make_error(errc::aborted,
                        "replica " + std::to_string(id) + " of job '" + job +
                            "' was claimed by another call at the same "
                            "time: not run twice");
    }
    return written.error();
  }
  claim.token = *written;
  return claim;
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
  auto text = read_now(store, meta_record_name);
  if (!text) return text.error();
  if (!*text) {
    return make_error(errc::not_found,
                      "job '" + job + "' is not in the store (no metadata)");
  }
  auto meta = decode_meta(**text, meta_record_name);
  if (!meta) return meta.error();
  job_status s;
  s.meta = *meta;
  s.replicas = replicas_of(s.meta);
  for (std::uint32_t id = 0; id < s.replicas; ++id) {
    auto r = read_replica(store, id);
    if (!r) return r.error();
    if (*r) {
      s.best_accuracy = std::max(s.best_accuracy, (*r)->best_accuracy);
      s.reached = s.reached || (*r)->reached;
    }
    s.records.push_back(*r);
  }
  auto driver = read_now(store, driver_record_name);
  if (!driver) return driver.error();
  if (*driver) {
    auto d = decode_driver(**driver, driver_record_name);
    if (!d) return d.error();
    // A driver of an older job under this name is not this one's.
    if (d->job_id == s.meta.id) s.driver = std::move(*d);
  }
  return s;
}

}  // namespace emnist
