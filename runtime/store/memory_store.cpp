// Blocks of floats under per-block mutexes; counters as atomics.
#include "runtime/store/memory_store.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <vector>

namespace emnist {
namespace {

class memory_store final : public parameter_store {
 public:
  memory_store(std::size_t floats, std::size_t block_floats)
      : values_(floats, 0.0f),
        block_floats_(std::max<std::size_t>(block_floats, 1)),
        locks_((floats + block_floats_ - 1) / block_floats_) {}

  std::size_t size() const override { return values_.size(); }
  std::string kind() const override { return "memory"; }

  expected<void> initialize(std::span<const float> params) override {
    if (params.size() != values_.size()) return size_error(params.size());
    std::copy(params.begin(), params.end(), values_.begin());
    return {};
  }

  void push(std::span<const float> delta, completion done) override {
    pushes_.fetch_add(1, std::memory_order_relaxed);
    if (delta.size() != values_.size()) return done(size_error(delta.size()));
    started_.fetch_add(1, std::memory_order_acq_rel);
    for (std::size_t b = 0; b < locks_.size(); ++b) {
      const std::size_t begin = b * block_floats_;
      const std::size_t end = std::min(begin + block_floats_, values_.size());
      std::lock_guard guard(locks_[b]);
      float* dst = values_.data() + begin;
      const float* src = delta.data() + begin;
      for (std::size_t i = 0; i < end - begin; ++i) dst[i] += src[i];
    }
    applied_.fetch_add(1, std::memory_order_release);
    bytes_sent_.fetch_add(delta.size_bytes(), std::memory_order_relaxed);
    done({});
  }

  void fetch(std::span<float> out, std::uint64_t known_version,
             fetch_completion done) override {
    fetches_.fetch_add(1, std::memory_order_relaxed);
    if (out.size() != values_.size()) return done(size_error(out.size()));
    // Consistent when no push was under way during the copy: every push
    // that had started had also finished, and none started meanwhile.
    const std::uint64_t finished_before =
        applied_.load(std::memory_order_acquire);
    if (finished_before == known_version &&
        started_.load(std::memory_order_acquire) == finished_before) {
      return done(known_version);  // not modified: the caller has it all
    }
    for (std::size_t b = 0; b < locks_.size(); ++b) {
      const std::size_t begin = b * block_floats_;
      const std::size_t end = std::min(begin + block_floats_, values_.size());
      std::lock_guard guard(locks_[b]);
      std::copy(values_.begin() + begin, values_.begin() + end,
                out.begin() + begin);
    }
    bytes_received_.fetch_add(out.size_bytes(), std::memory_order_relaxed);
    const std::uint64_t started_after =
        started_.load(std::memory_order_acquire);
    done(started_after == finished_before ? finished_before : mixed_version);
  }

  /// Nothing is ever missing here.
  void restore(std::span<const float> /*params*/, completion done) override {
    done({});
  }

  store_stats stats() const override {
    return {pushes_.load(), applied_.load(), fetches_.load(),
            bytes_sent_.load(), bytes_received_.load()};
  }

 private:
  error size_error(std::size_t got) const {
    return make_error(errc::invalid_argument,
                      "memory store: expected " +
                          std::to_string(values_.size()) + " floats, got " +
                          std::to_string(got));
  }

  std::vector<float> values_;
  std::size_t block_floats_;
  std::vector<std::mutex> locks_;
  std::atomic<std::uint64_t> pushes_{0}, applied_{0}, fetches_{0};
  std::atomic<std::uint64_t> started_{0};  ///< pushes that began adding
  std::atomic<std::uint64_t> bytes_sent_{0}, bytes_received_{0};
};

/// Records in a map under a mutex.
class memory_records final : public record_store {
 public:
  void read_record(const std::string& name, record_completion done) override {
    std::optional<std::string> value;
    {
      std::lock_guard guard(records_mutex_);
      if (auto it = records_.find(name); it != records_.end()) {
        value = it->second;
      }
    }
    done(std::move(value));
  }

  void write_record(const std::string& name, std::string value,
                    completion done) override {
    {
      std::lock_guard guard(records_mutex_);
      records_[name] = std::move(value);
      tokens_.erase(name);  // a new value: a token read before is stale
    }
    done({});
  }

  void add_record(const std::string& name, std::string value,
                  completion done) override {
    {
      std::lock_guard guard(records_mutex_);
      records_.try_emplace(name, std::move(value));
    }
    done({});
  }

  void erase_record(const std::string& name, completion done) override {
    {
      std::lock_guard guard(records_mutex_);
      records_.erase(name);
      tokens_.erase(name);
    }
    done({});
  }

  void read_versioned(const std::string& name,
                      versioned_completion done) override {
    std::optional<versioned> v;
    {
      std::lock_guard guard(records_mutex_);
      if (auto it = records_.find(name); it != records_.end()) {
        v = versioned{it->second, token_of(name)};
      }
    }
    done(std::move(v));
  }

  void replace_record(const std::string& name, std::string value,
                      std::uint64_t token, token_completion done) override {
    expected<std::uint64_t> r = std::uint64_t{0};
    {
      std::lock_guard guard(records_mutex_);
      const auto it = records_.find(name);
      if (token == 0 && it != records_.end()) {
        r = make_error(errc::aborted, "record '" + name + "' exists");
      } else if (token != 0 && it == records_.end()) {
        r = make_error(errc::not_found, "record '" + name + "' is gone");
      } else if (token != 0 && token_of(name) != token) {
        r = make_error(errc::aborted,
                       "record '" + name + "' changed since it was read");
      } else {
        records_[name] = std::move(value);
        tokens_[name] = ++last_token_;
        r = last_token_;
      }
    }
    done(std::move(r));
  }

 private:
  /// Every write gives the record a new token (an unconditional one too).
  std::uint64_t token_of(const std::string& name) {
    auto [it, fresh] = tokens_.try_emplace(name, 0);
    if (fresh) it->second = ++last_token_;
    return it->second;
  }

  std::mutex records_mutex_;
  std::map<std::string, std::string> records_;
  std::map<std::string, std::uint64_t> tokens_;  ///< of conditional writes
  std::uint64_t last_token_ = 0;
};

}  // namespace

job_store make_memory_store(std::size_t floats, std::size_t block_floats) {
  return {std::make_shared<memory_store>(floats, block_floats),
          std::make_shared<memory_records>()};
}

}  // namespace emnist
