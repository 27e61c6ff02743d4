// gets/cas block updates and multi-get fetches over libmemcached, on a
// thread pool with one memcached handle per call in flight.
#include "runtime/memcached_store.hpp"

#include <libmemcached/memcached.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <charconv>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>

#include "runtime/block_codec.hpp"

namespace emnist {

expected<server_address> parse_server(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return make_error(errc::invalid_argument,
                      "'" + text + "': expected host:port");
  }
  unsigned port = 0;
  const char* begin = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, port);
  if (ec != std::errc{} || ptr != end || port == 0 || port > 65535) {
    return make_error(errc::invalid_argument,
                      "'" + text + "': port must be 1-65535");
  }
  return server_address{text.substr(0, colon),
                        static_cast<std::uint16_t>(port)};
}

namespace {

using memc_ptr = std::unique_ptr<memcached_st, decltype(&memcached_free)>;

bool valid_job_name(const std::string& job) {
  if (job.empty() || job.size() > 64) return false;
  return std::all_of(job.begin(), job.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

class memcached_store final : public parameter_store {
 public:
  memcached_store(std::size_t floats, memcached_options o, memc_ptr prototype)
      : floats_(floats),
        options_(std::move(o)),
        prototype_(std::move(prototype)),
        blocks_((floats + options_.block_floats - 1) / options_.block_floats),
        pool_(options_.io_threads) {
    for (std::size_t b = 0; b < blocks_; ++b) {
      keys_.push_back("emnist:" + options_.job + ":b:" + std::to_string(b));
    }
  }

  ~memcached_store() override {
    pool_.join();
    for (auto* h : idle_) memcached_free(h);
  }

  std::size_t size() const override { return floats_; }
  std::string kind() const override { return "memcached"; }

  expected<void> initialize(std::span<const float> params) override {
    if (params.size() != floats_) return size_error(params.size());
    handle h(*this);
    std::vector<std::byte> value;
    for (std::size_t b = 0; b < blocks_; ++b) {
      encode_block({static_cast<std::uint32_t>(b), 0, options_.job_tag},
                   block_of(params, b), value);
      const auto rc = memcached_set(h.get(), keys_[b].data(), keys_[b].size(),
                                    reinterpret_cast<const char*>(value.data()),
                                    value.size(), 0, 0);
      if (rc != MEMCACHED_SUCCESS) return failure(h.get(), rc, keys_[b]);
    }
    return {};
  }

  void push(std::span<const float> delta, completion done) override {
    pushes_.fetch_add(1, std::memory_order_relaxed);
    if (delta.size() != floats_) return done(size_error(delta.size()));
    boost::asio::post(pool_, [this, delta, done = std::move(done)] {
      std::size_t next_block = 0;  // a retry resumes after the blocks done
      done(with_reconnect([&] { return push_now(delta, next_block); }));
    });
  }

  void fetch(std::span<float> out, std::uint64_t /*known_version*/,
             fetch_completion done) override {
    fetches_.fetch_add(1, std::memory_order_relaxed);
    if (out.size() != floats_) return done(size_error(out.size()));
    boost::asio::post(pool_, [this, out, done = std::move(done)] {
      done(with_reconnect([&] { return fetch_now(out); }));
    });
  }

  void restore(std::span<const float> params, completion done) override {
    if (params.size() != floats_) return done(size_error(params.size()));
    boost::asio::post(pool_, [this, params, done = std::move(done)] {
      done(with_reconnect([&] { return restore_now(params); }));
    });
  }

  store_stats stats() const override {
    return {pushes_.load(), applied_.load(),  fetches_.load(),
            sent_.load(),   received_.load(), cas_retries_.load(),
            restored_.load()};
  }

 private:
  /// A memcached handle for one call: one per thread in flight, reused.
  class handle {
   public:
    explicit handle(memcached_store& s) : store_(s) {
      std::lock_guard guard(s.idle_mutex_);
      if (!s.idle_.empty()) {
        h_ = s.idle_.back();
        s.idle_.pop_back();
      }
      if (h_ == nullptr) h_ = memcached_clone(nullptr, s.prototype_.get());
    }
    ~handle() {
      std::lock_guard guard(store_.idle_mutex_);
      store_.idle_.push_back(h_);
    }
    handle(const handle&) = delete;
    handle& operator=(const handle&) = delete;
    memcached_st* get() const { return h_; }

   private:
    memcached_store& store_;
    memcached_st* h_ = nullptr;
  };

  std::span<const float> block_of(std::span<const float> all,
                                  std::size_t b) const {
    const std::size_t begin = b * options_.block_floats;
    return all.subspan(begin, std::min(options_.block_floats, floats_ - begin));
  }
  std::uint32_t floats_in(std::size_t b) const {
    const std::size_t begin = b * options_.block_floats;
    return static_cast<std::uint32_t>(
        std::min(options_.block_floats, floats_ - begin));
  }

  error size_error(std::size_t got) const {
    return make_error(errc::invalid_argument,
                      "memcached store: expected " + std::to_string(floats_) +
                          " floats, got " + std::to_string(got));
  }

  error failure(memcached_st* h, memcached_return_t rc,
                const std::string& key) const {
    const errc code =
        rc == MEMCACHED_NOTFOUND ? errc::not_found : errc::unavailable;
    std::string why = memcached_last_error_message(h);
    if (why.empty()) why = memcached_strerror(h, rc);
    std::string msg = "memcached, key '" + key + "': " + why;
    if (rc == MEMCACHED_NOTFOUND) {
      msg += " (the block is missing: evicted, or its server restarted empty)";
    }
    return make_error(code, msg);
  }

  /// Runs `op` again while it fails on a connection, with backoff, for up
  /// to options_.retry_for: a server that restarts, or a connection it
  /// closed, costs a reconnect, not the job. A retried push resumes at the
  /// block that failed, so no block whose cas succeeded is added twice. (A
  /// cas the server applied but whose answer was lost would be; the block
  /// format has no writer id to tell yet.)
  template <class Op>
  std::invoke_result_t<Op&> with_reconnect(Op op) {
    const auto deadline = std::chrono::steady_clock::now() + options_.retry_for;
    auto backoff = std::chrono::milliseconds(5);
    for (;;) {
      auto r = op();
      if (r || r.error().code != errc::unavailable ||
          std::chrono::steady_clock::now() + backoff > deadline) {
        return r;
      }
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
    }
  }

  /// Reads one block with its CAS token into `value`.
  expected<std::uint64_t> gets(memcached_st* h, std::size_t b,
                               std::vector<std::byte>& value) {
    const char* key = keys_[b].data();
    const std::size_t len = keys_[b].size();
    memcached_return_t rc = memcached_mget(h, &key, &len, 1);
    if (rc != MEMCACHED_SUCCESS) return failure(h, rc, keys_[b]);
    memcached_result_st* res = memcached_fetch_result(h, nullptr, &rc);
    if (res == nullptr) {
      return failure(h, rc == MEMCACHED_END ? MEMCACHED_NOTFOUND : rc,
                     keys_[b]);
    }
    const auto* v =
        reinterpret_cast<const std::byte*>(memcached_result_value(res));
    value.assign(v, v + memcached_result_length(res));
    const std::uint64_t cas = memcached_result_cas(res);
    memcached_result_free(res);
    // Drain the end-of-results marker so that the handle is ready again.
    while (memcached_fetch_result(h, nullptr, &rc) != nullptr) {
    }
    return cas;
  }

  expected<void> push_now(std::span<const float> delta,
                          std::size_t& next_block) {
    handle h(*this);
    std::vector<std::byte> value;
    std::vector<float> sum;
    // A missing block does not stop the others from getting the delta: the
    // caller restores it from a copy that includes this delta.
    std::optional<error> missing;
    for (std::size_t b = next_block; b < blocks_; ++b) {
      const std::uint32_t count = floats_in(b);
      const auto part = delta.subspan(b * options_.block_floats, count);
      for (int attempt = 0;; ++attempt) {
        auto cas = gets(h.get(), b, value);
        if (!cas && cas.error().code == errc::not_found) {
          if (!missing) missing = cas.error();
          next_block = b + 1;
          break;
        }
        if (!cas) return cas.error();
        received_.fetch_add(value.size(), std::memory_order_relaxed);
        auto block = decode_block(
            value, {static_cast<std::uint32_t>(b), count, options_.job_tag},
            keys_[b]);
        if (!block) return block.error();
        sum.resize(count);
        read_payload(block->payload, sum);
        for (std::uint32_t i = 0; i < count; ++i) sum[i] += part[i];
        encode_block({static_cast<std::uint32_t>(b), block->version + 1,
                      options_.job_tag},
                     sum, value);
        const auto rc =
            memcached_cas(h.get(), keys_[b].data(), keys_[b].size(),
                          reinterpret_cast<const char*>(value.data()),
                          value.size(), 0, 0, *cas);
        if (rc == MEMCACHED_SUCCESS) {
          sent_.fetch_add(value.size(), std::memory_order_relaxed);
          next_block = b + 1;
          break;
        }
        if (rc != MEMCACHED_DATA_EXISTS) return failure(h.get(), rc, keys_[b]);
        // Another replica changed the block since our gets: read it again.
        cas_retries_.fetch_add(1, std::memory_order_relaxed);
        if (attempt >= options_.max_cas_retries) {
          return make_error(errc::aborted,
                            "memcached, key '" + keys_[b] +
                                "': " + std::to_string(attempt + 1) +
                                " compare-and-swap conflicts in a row");
        }
        std::this_thread::sleep_for(std::chrono::microseconds(
            std::min(1000, 10 << std::min(attempt, 6))));
      }
    }
    if (missing) return *missing;
    applied_.fetch_add(1, std::memory_order_relaxed);
    return {};
  }

  expected<void> restore_now(std::span<const float> params) {
    handle h(*this);
    std::vector<std::byte> value;
    // A version far from any count of pushes, so that no replica takes the
    // restored parameters for ones it already has.
    const auto version =
        static_cast<std::uint64_t>(
            std::chrono::steady_clock::now().time_since_epoch().count()) |
        (1ull << 62);
    for (std::size_t b = 0; b < blocks_; ++b) {
      encode_block({static_cast<std::uint32_t>(b), version, options_.job_tag},
                   block_of(params, b), value);
      const auto rc = memcached_add(h.get(), keys_[b].data(), keys_[b].size(),
                                    reinterpret_cast<const char*>(value.data()),
                                    value.size(), 0, 0);
      if (rc == MEMCACHED_SUCCESS) {
        restored_.fetch_add(1, std::memory_order_relaxed);
        sent_.fetch_add(value.size(), std::memory_order_relaxed);
      } else if (rc != MEMCACHED_NOTSTORED && rc != MEMCACHED_DATA_EXISTS) {
        return failure(h.get(), rc, keys_[b]);  // NOTSTORED: it exists
      }
    }
    return {};
  }

  expected<std::uint64_t> fetch_now(std::span<float> out) {
    handle h(*this);
    std::vector<const char*> keys;
    std::vector<std::size_t> lengths;
    for (const auto& k : keys_) {
      keys.push_back(k.data());
      lengths.push_back(k.size());
    }
    memcached_return_t rc =
        memcached_mget(h.get(), keys.data(), lengths.data(), keys.size());
    if (rc != MEMCACHED_SUCCESS) return failure(h.get(), rc, keys_[0]);
    std::vector<bool> seen(blocks_, false);
    std::optional<std::uint64_t> version;
    bool mixed = false;
    std::optional<error> first_error;
    while (memcached_result_st* res =
               memcached_fetch_result(h.get(), nullptr, &rc)) {
      const std::string key(memcached_result_key_value(res),
                            memcached_result_key_length(res));
      const auto it = std::find(keys_.begin(), keys_.end(), key);
      const std::span<const std::byte> value(
          reinterpret_cast<const std::byte*>(memcached_result_value(res)),
          memcached_result_length(res));
      received_.fetch_add(value.size(), std::memory_order_relaxed);
      if (it != keys_.end() && !first_error) {
        const auto b = static_cast<std::size_t>(it - keys_.begin());
        const std::uint32_t count = floats_in(b);
        auto block = decode_block(
            value, {static_cast<std::uint32_t>(b), count, options_.job_tag},
            key);
        if (!block) {
          first_error = block.error();
        } else {
          read_payload(block->payload,
                       out.subspan(b * options_.block_floats, count));
          seen[b] = true;
          if (version && *version != block->version) mixed = true;
          version = block->version;
        }
      }
      memcached_result_free(res);
    }
    if (first_error) return *first_error;
    for (std::size_t b = 0; b < blocks_; ++b) {
      if (!seen[b]) return failure(h.get(), MEMCACHED_NOTFOUND, keys_[b]);
    }
    return mixed ? mixed_version : version.value_or(0);
  }

  std::size_t floats_;
  memcached_options options_;
  memc_ptr prototype_;
  std::size_t blocks_;
  std::vector<std::string> keys_;
  std::mutex idle_mutex_;
  std::vector<memcached_st*> idle_;
  std::atomic<std::uint64_t> pushes_{0}, applied_{0}, fetches_{0};
  std::atomic<std::uint64_t> sent_{0}, received_{0}, cas_retries_{0};
  std::atomic<std::uint64_t> restored_{0};
  boost::asio::thread_pool pool_;  ///< last: joined before the rest goes
};

}  // namespace

expected<std::shared_ptr<parameter_store>> make_memcached_store(
    std::size_t floats, const memcached_options& o) {
  if (o.servers.empty()) {
    return make_error(errc::invalid_argument, "sync.servers: no server given");
  }
  if (!valid_job_name(o.job)) {
    return make_error(
        errc::invalid_argument,
        "sync.job: '" + o.job + "': use 1-64 characters of A-Z a-z 0-9 _ . -");
  }
  // A value must fit memcached's 1 MiB item limit with header and key.
  if (o.block_floats == 0 ||
      o.block_floats * 4 + block_header_bytes > 1000000) {
    return make_error(
        errc::invalid_argument,
        "sync.block_bytes: a block must hold 1 to 249,990 floats");
  }
  memc_ptr memc(memcached_create(nullptr), &memcached_free);
  if (!memc) return make_error(errc::internal, "memcached_create failed");
  for (const auto& s : o.servers) {
    auto address = parse_server(s);
    if (!address) {
      return make_error(errc::invalid_argument,
                        "sync.servers: " + address.error().message);
    }
    if (memcached_server_add(memc.get(), address->host.c_str(),
                             address->port) != MEMCACHED_SUCCESS) {
      return make_error(errc::invalid_argument,
                        "sync.servers: cannot add '" + s + "'");
    }
  }
  const auto ms = static_cast<std::uint64_t>(o.timeout.count());
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_DISTRIBUTION,
                         MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms);
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms);
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_RCV_TIMEOUT, ms * 1000);
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_SND_TIMEOUT, ms * 1000);
  // Retry a failed server at once on the next call: with_reconnect paces
  // the retries itself.
  memcached_behavior_set(memc.get(), MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 0);
  return std::shared_ptr<parameter_store>(
      std::make_shared<memcached_store>(floats, o, std::move(memc)));
}

}  // namespace emnist
