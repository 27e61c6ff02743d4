// The memcached parameter store: pushes add each block by gets/cas (all
// blocks at once, each retried on conflict; the pushes of one process to a
// block share a write), fetches read every block in one multi-get unless the
// job's version count says nothing changed. Every call goes through the
// client's retry and failover policy (runtime/store/memcached_client.hpp).
#include "runtime/store/memcached_store.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <mutex>
#include <random>

#include "runtime/store/block_codec.hpp"
#include "runtime/store/memcached_client.hpp"

namespace emnist {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using clock_type = std::chrono::steady_clock;

bool valid_job_name(const std::string& job) {
  if (job.empty() || job.size() > 64) return false;
  return std::all_of(job.begin(), job.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
  });
}

class memcached_parameters final : public parameter_store {
 public:
  memcached_parameters(std::size_t floats,
                       std::shared_ptr<memcached_client> client)
      : floats_(floats),
        options_(client->options()),
        blocks_((floats + options_.block_floats - 1) / options_.block_floats),
        prefix_("emnist:" + options_.job + ":"),
        version_key_(prefix_ + "version"),
        writer_base_(std::random_device{}() | (std::uint64_t{1} << 63)),
        client_(std::move(client)) {
    for (std::size_t b = 0; b < blocks_; ++b) {
      keys_.push_back(prefix_ + "b:" + std::to_string(b));
      cache_.push_back(std::make_unique<block_cache>());
    }
    combiners_.resize(blocks_);
  }

  // Its operations reference its members: they finish first (bounded by
  // retry_for).
  ~memcached_parameters() override { ops_.wait_idle(); }

  std::size_t size() const override { return floats_; }
  std::string kind() const override { return "memcached"; }

  expected<void> initialize(std::span<const float> params) override {
    if (params.size() != floats_) return size_error(params.size());
    auto c = client_->pool().acquire();
    for (std::size_t b = 0; b < blocks_; ++b) {
      const auto value =
          encode_block({static_cast<std::uint32_t>(b), 0, options_.job_tag},
                       block_of(params, b), c.encode_buffer());
      if (auto r = c.set(keys_[b], value); !r) return r;
    }
    return c.set(version_key_, std::as_bytes(std::span("0", 1)));
  }

  void push(std::span<const float> delta, completion done) override {
    pushes_.fetch_add(1, std::memory_order_relaxed);
    if (delta.size() != floats_) return done(size_error(delta.size()));
    const std::uint64_t writer =
        writer_base_ + writer_seq_.fetch_add(1, std::memory_order_relaxed);
    auto pushed = [](expected<std::uint64_t> r) -> expected<void> {
      if (!r) return r.error();
      return {};
    };
    spawn(push_op(delta, writer, {}),
          [pushed, done = std::move(done)](expected<std::uint64_t> r) {
            done(pushed(std::move(r)));
          });
  }

  void push_and_fetch(std::span<const float> delta, std::span<float> out,
                      fetch_completion done) override {
    pushes_.fetch_add(1, std::memory_order_relaxed);
    fetches_.fetch_add(1, std::memory_order_relaxed);
    if (delta.size() != floats_) return done(size_error(delta.size()));
    if (out.size() != floats_) return done(size_error(out.size()));
    const std::uint64_t writer =
        writer_base_ + writer_seq_.fetch_add(1, std::memory_order_relaxed);
    spawn(push_op(delta, writer, out), std::move(done));
  }

  void fetch(std::span<float> out, std::uint64_t known_version,
             fetch_completion done) override {
    fetches_.fetch_add(1, std::memory_order_relaxed);
    if (out.size() != floats_) return done(size_error(out.size()));
    spawn(fetch_op(out, known_version), std::move(done));
  }

  void restore(std::span<const float> params, completion done) override {
    if (params.size() != floats_) return done(size_error(params.size()));
    spawn(restore_op(params), std::move(done));
  }

  store_stats stats() const override {
    store_stats s;
    s.pushes = pushes_.load();
    s.pushes_applied = applied_.load();
    s.fetches = fetches_.load();
    s.fetches_not_modified = not_modified_.load();
    s.bytes_sent = sent_.load();
    s.bytes_received = received_.load();
    s.cas_retries = cas_retries_.load();
    s.blocks_restored = restored_.load();
    s.push_reads_skipped = reads_skipped_.load();
    s.push_blocks_combined = combined_.load();
    s.server_retries = client_->server_retries();
    s.servers_failed_over = client_->servers_failed_over();
    return s;
  }

 private:
  template <class T, class Done>
  void spawn(awaitable<expected<T>> op, Done done) {
    client_->spawn(ops_, std::move(op), std::move(done));
  }

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
  block_expectation expect(std::size_t b) const {
    return {static_cast<std::uint32_t>(b), floats_in(b), options_.job_tag};
  }

  error size_error(std::size_t got) const {
    return make_error(errc::invalid_argument,
                      "memcached store: expected " + std::to_string(floats_) +
                          " floats, got " + std::to_string(got));
  }

  /// One gets/add/cas attempt on block `b`: applied, or aborted on a CAS
  /// conflict, not_found when the block is missing, or another error. A
  /// block whose writer is this push already holds it: an earlier cas was
  /// applied though its reply was lost.
  ///
  /// With `out` (this block's part of a push_and_fetch), the block's new
  /// value goes there and its version to `version`.
  ///
  /// When the block still holds what this store last wrote to it (its
  /// CAS token unchanged, checked by the cas itself), the gets is
  /// skipped: the sum is made on the cached copy. Pushes of one block
  /// through this store take turns (the cache's mutex); the replicas of
  /// one process share the store, so they keep its cache current.
  expected<void> add_to_block(std::size_t b, std::span<const float> part,
                              std::uint64_t writer, std::uint64_t pushes,
                              std::span<float> out, std::uint64_t& version) {
    auto c = client_->pool().acquire();
    auto& cache = *cache_[b];
    std::lock_guard guard(cache.mutex);
    if (cache.valid) {
      const auto route = c.route_of(keys_[b]);
      // A token means something only to the server instance that gave it:
      // a restarted server hands the same tokens out again.
      if (route.instance != 0 && route.instance == cache.instance &&
          route.server == cache.server) {
        const auto value =
            encode_block_sum({static_cast<std::uint32_t>(b),
                              cache.version + pushes, options_.job_tag, writer},
                             cached_payload(cache), part, c.encode_buffer());
        auto token = c.cas_value(keys_[b], value, cache.cas);
        cache.valid = false;
        if (token) {
          sent_.fetch_add(value.size(), std::memory_order_relaxed);
          reads_skipped_.fetch_add(1, std::memory_order_relaxed);
          keep(cache, c, value.size(), cache.version + pushes, *token, route);
          version = cache.version;
          if (!out.empty()) read_payload(cached_payload(cache), out);
          return {};
        }
        // Another writer came in between (or the block went): read it. A
        // lost reply is an error: the retry reads the block and finds this
        // push's writer id if the cas was applied.
        if (token.error().code != errc::aborted &&
            token.error().code != errc::not_found) {
          return token.error();
        }
      }
      cache.valid = false;
    }
    auto v = c.get_value(keys_[b], block_header_bytes + 4 * floats_in(b));
    if (!v) return v.error();
    received_.fetch_add(v->bytes.size(), std::memory_order_relaxed);
    auto block = decode_block(v->bytes, expect(b), keys_[b]);
    if (!block) return block.error();
    if (block->writer == writer) {
      if (!out.empty()) read_payload(block->payload, out);
      version = block->version;
      return {};
    }
    version = block->version + pushes;
    const auto value =
        encode_block_sum({static_cast<std::uint32_t>(b),
                          block->version + pushes, options_.job_tag, writer},
                         block->payload, part, c.encode_buffer());
    auto token = c.cas_value(keys_[b], value, v->cas);
    if (!token) return token.error();
    sent_.fetch_add(value.size(), std::memory_order_relaxed);
    if (options_.push_reads == push_read_policy::when_changed) {
      keep(cache, c, value.size(), version, *token, c.route_of(keys_[b]));
      if (!out.empty()) read_payload(cached_payload(cache), out);
    } else if (!out.empty()) {
      read_payload(value.subspan(block_header_bytes), out);
    }
    return {};
  }

  /// A block's value as this store last wrote it, with memcached's token.
  struct block_cache {
    std::mutex mutex;
    bool valid = false;
    std::vector<std::byte> value;  ///< its front `length` bytes
    std::size_t length = 0;
    std::uint64_t version = 0;
    std::uint64_t cas = 0;
    std::string server;
    std::uint64_t instance = 0;
  };

  /// Makes the value just written from the lease's encode buffer the
  /// cache's (by swapping buffers: no copy).
  static void keep(block_cache& cache, memcached_pool::lease& c,
                   std::size_t length, std::uint64_t version, std::uint64_t cas,
                   memcached_pool::route route) {
    c.swap_encode_buffer(cache.value);
    cache.length = length;
    cache.version = version;
    cache.cas = cas;
    cache.server = std::move(route.server);
    cache.instance = route.instance;
    cache.valid = true;
  }

  static std::span<const std::byte> cached_payload(const block_cache& cache) {
    return std::span(cache.value)
        .subspan(block_header_bytes, cache.length - block_header_bytes);
  }

  /// One push's part of a block, waiting to go to memcached; it lives in
  /// the frame of the push_block coroutine that owns it.
  struct block_push {
    std::span<const float> delta;
    std::span<float> out;  ///< empty unless a push_and_fetch
    std::uint64_t writer = 0;
    std::uint64_t version = 0;
    std::optional<expected<void>> result;
    bool lead = false;  ///< woken to write the next round, not with a result
    asio::steady_timer* wake = nullptr;
  };

  /// The pushes of one block through this store, one write at a time: the
  /// pushes that arrive while a write is under way join the next one, as a
  /// single sum. Touched on the io thread only.
  struct block_combiner {
    bool busy = false;
    std::vector<block_push*> next;
    std::vector<float> sum;  ///< the summed deltas of a round
    std::vector<float> out;  ///< its new value, for the push_and_fetches
  };

  /// Adds this push's part of block `b`. The replicas of a process share
  /// the store: their pushes to a block go out together, one gets/cas for
  /// all (a round), so that N replicas cost memcached one write per block
  /// and round rather than N in turn. Each push still completes only once
  /// the write holding its delta is in.
  awaitable<expected<void>> push_block(std::size_t b,
                                       std::span<const float> delta,
                                       std::uint64_t writer,
                                       std::span<float> out,
                                       std::uint64_t& version) {
    const std::size_t begin = b * options_.block_floats;
    asio::steady_timer wake(client_->io(),
                            asio::steady_timer::time_point::max());
    block_push me;
    me.delta = delta.subspan(begin, floats_in(b));
    me.out =
        out.empty() ? std::span<float>{} : out.subspan(begin, floats_in(b));
    me.writer = writer;
    me.wake = &wake;
    auto& combiner = combiners_[b];
    if (combiner.busy) {
      combiner.next.push_back(&me);
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
      if (!me.lead) {
        version = me.version;
        co_return std::move(*me.result);
      }
    }
    combiner.busy = true;
    std::vector<block_push*> round{&me};
    round.insert(round.end(), combiner.next.begin(), combiner.next.end());
    combiner.next.clear();
    co_await write_round(b, round);
    // Whoever queued meanwhile writes the next round, led by the first.
    if (combiner.next.empty()) {
      combiner.busy = false;
    } else {
      block_push* leader = combiner.next.front();
      combiner.next.erase(combiner.next.begin());
      leader->lead = true;
      leader->wake->cancel();
    }
    version = me.version;
    co_return std::move(*me.result);
  }

  /// Writes the sum of `round`'s deltas to block `b` and hands each push
  /// its result (the others are woken; round[0] is the caller).
  awaitable<void> write_round(std::size_t b, std::vector<block_push*>& round) {
    auto& combiner = combiners_[b];
    const std::size_t n = floats_in(b);
    std::span<const float> part = round[0]->delta;
    std::span<float> out = round[0]->out;
    std::uint64_t writer = round[0]->writer;
    if (round.size() > 1) {
      combined_.fetch_add(round.size() - 1, std::memory_order_relaxed);
      combiner.sum.assign(round[0]->delta.begin(), round[0]->delta.end());
      for (std::size_t i = 1; i < round.size(); ++i) {
        const float* d = round[i]->delta.data();
        float* s = combiner.sum.data();
        for (std::size_t j = 0; j < n; ++j) s[j] += d[j];
      }
      part = combiner.sum;
      const bool any_out = std::any_of(round.begin(), round.end(),
                                       [](auto* p) { return !p->out.empty(); });
      combiner.out.resize(any_out ? n : 0);
      out = combiner.out;
      // The round's own id: a retry after a lost reply must not add it twice.
      writer =
          writer_base_ + writer_seq_.fetch_add(1, std::memory_order_relaxed);
    }
    std::uint64_t version = 0;
    std::optional<expected<void>> outcome;
    try {
      // The block's version counts the pushes in it, combined or not.
      outcome.emplace(co_await add_with_retries(b, part, writer, round.size(),
                                                out, version));
    } catch (const std::exception& e) {
      // A bug, but the waiting pushes must still complete.
      outcome.emplace(make_error(errc::internal,
                                 std::string("memcached store: ") + e.what()));
    }
    const expected<void>& r = *outcome;
    for (auto* p : round) {
      p->version = version;
      if (r && !p->out.empty() && p->out.data() != out.data()) {
        std::copy(out.begin(), out.end(), p->out.begin());
      }
      p->result = r;
      if (p != round[0]) p->wake->cancel();
    }
  }

  /// add_to_block, again on a CAS conflict (another writer came in between
  /// the read and the write), with a short backoff.
  awaitable<expected<void>> add_with_retries(
      std::size_t b, std::span<const float> part, std::uint64_t writer,
      std::uint64_t pushes, std::span<float> out, std::uint64_t& version) {
    auto attempt = [&] {
      return add_to_block(b, part, writer, pushes, out, version);
    };
    for (int conflicts = 0;; ++conflicts) {
      auto r = co_await client_->with_retry<void>(attempt);
      if (r || r.error().code != errc::aborted) co_return r;
      // Another replica changed the block since our gets: read it again.
      cas_retries_.fetch_add(1, std::memory_order_relaxed);
      if (conflicts >= options_.max_cas_retries) {
        co_return make_error(errc::aborted,
                             "memcached, key '" + keys_[b] +
                                 "': " + std::to_string(conflicts + 1) +
                                 " compare-and-swap conflicts in a row");
      }
      co_await coro::sleep_for(std::chrono::microseconds(
          std::min(1000, 10 << std::min(conflicts, 6))));
    }
  }

  /// Adds `delta` to every block at once. A missing block does not stop
  /// the others from getting the delta: the caller restores it from a
  /// copy that includes this delta. With `out`, the blocks' new values go
  /// there (a push_and_fetch), and the result is their version when they
  /// all have the same, else mixed_version.
  awaitable<expected<std::uint64_t>> push_op(std::span<const float> delta,
                                             std::uint64_t writer,
                                             std::span<float> out) {
    std::vector<std::optional<error>> errors(blocks_);
    std::vector<std::uint64_t> versions(blocks_, 0);
    auto one = [&](std::size_t b) -> awaitable<void> {
      auto r = co_await push_block(b, delta, writer, out, versions[b]);
      if (!r) errors[b] = r.error();
    };
    co_await coro::run_parallel(blocks_, one);
    const error* missing = nullptr;
    for (const auto& e : errors) {
      if (!e) continue;
      if (e->code != errc::not_found) co_return *e;
      if (missing == nullptr) missing = &*e;
    }
    if (missing != nullptr) co_return *missing;
    applied_.fetch_add(1, std::memory_order_relaxed);
    // Counted once every block has it, so that a fetch that sees the new
    // count sees the push. The caller does not wait for the count: its
    // next fetch that reads the old count copies the blocks (it cannot
    // skip), and another replica that reads it skips one fetch at most.
    // The store keeps every update either way.
    ops_.begin();  // bump_version() ends it
    asio::co_spawn(client_->io(), bump_version(), asio::detached);
    const bool same = std::all_of(versions.begin(), versions.end(),
                                  [&](auto v) { return v == versions[0]; });
    co_return same && !versions.empty() ? versions[0] : mixed_version;
  }

  /// Adds one to the job's count of applied pushes (best effort: a count
  /// that lags only costs fetches that could have been skipped).
  awaitable<void> bump_version() {
    auto bump = [&]() -> expected<void> {
      auto c = client_->pool().acquire();
      return c.increment(version_key_);
    };
    (void)co_await client_->with_retry<void>(bump);
    ops_.end();
  }

  /// The job's count of applied pushes, or nullopt when it is missing.
  expected<std::optional<std::uint64_t>> read_version() {
    auto c = client_->pool().acquire();
    auto v = c.get(version_key_);
    if (!v) {
      if (v.error().code == errc::not_found) {
        return std::optional<std::uint64_t>{};
      }
      return v.error();
    }
    std::uint64_t n = 0;
    const auto* text = reinterpret_cast<const char*>(v->bytes.data());
    auto [ptr, ec] = std::from_chars(text, text + v->bytes.size(), n);
    if (ec != std::errc{} || ptr != text + v->bytes.size()) {
      return make_error(errc::data_loss,
                        "memcached, key '" + version_key_ +
                            "': not a decimal count (foreign value)");
    }
    return std::optional<std::uint64_t>{n};
  }

  /// Reads every block into `out` with one multi-get.
  /// Returns the blocks' version when they all have the same, else
  /// mixed_version.
  expected<std::uint64_t> read_blocks(std::span<float> out) {
    auto c = client_->pool().acquire();
    std::vector<bool> seen(blocks_, false);
    std::optional<std::uint64_t> version;
    bool mixed = false;
    std::optional<error> first_error;
    auto found = [&](std::size_t b, std::span<const std::byte> value) {
      received_.fetch_add(value.size(), std::memory_order_relaxed);
      if (first_error) return;
      auto block = decode_block(value, expect(b), keys_[b]);
      if (!block) {
        first_error = block.error();
        return;
      }
      read_payload(block->payload,
                   out.subspan(b * options_.block_floats, floats_in(b)));
      seen[b] = true;
      if (version && *version != block->version) mixed = true;
      version = block->version;
    };
    auto read = c.multi_get(keys_, found);
    if (first_error) return *first_error;
    // A server that failed may hold the blocks not seen: a retry (or
    // failover) finds out.
    if (!read) return read.error();
    for (std::size_t b = 0; b < blocks_; ++b) {
      if (!seen[b]) {
        return make_error(errc::not_found,
                          "memcached, key '" + keys_[b] +
                              "': not found (the value is missing: evicted, "
                              "or its server restarted empty)");
      }
    }
    return mixed ? mixed_version : version.value_or(mixed_version);
  }

  awaitable<expected<std::uint64_t>> fetch_op(std::span<float> out,
                                              std::uint64_t known) {
    auto version_call = [&] {
      return read_version();
    };
    auto version = co_await client_->with_retry<std::optional<std::uint64_t>>(
        version_call);
    if (!version) co_return version.error();
    if (*version && **version == known && known != mixed_version) {
      not_modified_.fetch_add(1, std::memory_order_relaxed);
      co_return known;  // nothing new: the caller has it all
    }
    auto blocks_call = [&] {
      return read_blocks(out);
    };
    // The blocks' own version, not the count: the count may lag (it is
    // raised after a push has answered), and a replica alone must see its
    // own copy as "nothing new" to stay plain SGD.
    co_return co_await client_->with_retry<std::uint64_t>(blocks_call);
  }

  awaitable<expected<void>> restore_op(std::span<const float> params) {
    // A version far from any count of pushes, so that no replica takes the
    // restored parameters for ones it already has.
    const auto version = static_cast<std::uint64_t>(
                             clock_type::now().time_since_epoch().count()) |
                         (std::uint64_t{1} << 62);
    auto write_missing = [&]() -> expected<void> {
      auto c = client_->pool().acquire();
      for (std::size_t b = 0; b < blocks_; ++b) {
        const auto value = encode_block(
            {static_cast<std::uint32_t>(b), version, options_.job_tag},
            block_of(params, b), c.encode_buffer());
        auto added = c.add(keys_[b], value);  // false: it exists
        if (!added) return added.error();
        if (*added) {
          restored_.fetch_add(1, std::memory_order_relaxed);
          sent_.fetch_add(value.size(), std::memory_order_relaxed);
        }
      }
      // A fresh count no replica holds, in case the count went too.
      const std::string count = std::to_string(version);
      auto added = c.add(version_key_, std::as_bytes(std::span(count)));
      if (!added) return added.error();
      return {};
    };
    co_return co_await client_->with_retry<void>(write_missing);
  }

  std::size_t floats_;
  memcached_options options_;
  std::size_t blocks_;
  std::string prefix_;       ///< "emnist:<job>:"
  std::string version_key_;  ///< count of pushes applied
  std::vector<std::string> keys_;
  /// Writer ids of pushes: random per store, then one more per push.
  std::uint64_t writer_base_;
  std::atomic<std::uint64_t> writer_seq_{0};
  std::atomic<std::uint64_t> pushes_{0}, applied_{0}, fetches_{0};
  std::atomic<std::uint64_t> not_modified_{0};
  std::atomic<std::uint64_t> sent_{0}, received_{0}, cas_retries_{0};
  std::atomic<std::uint64_t> restored_{0}, reads_skipped_{0}, combined_{0};
  std::vector<std::unique_ptr<block_cache>> cache_;  ///< one per block
  std::vector<block_combiner> combiners_;  ///< one per block, io thread only
  std::shared_ptr<memcached_client> client_;
  operation_count ops_;  ///< last: the destructor waits for them first
};

}  // namespace

expected<job_store> make_memcached_store(std::size_t floats,
                                         const memcached_options& o) {
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
        "sync.block_bytes: a block must hold 1 to 249,988 floats");
  }
  auto client = memcached_client::create(o);
  if (!client) return client.error();
  job_store store;
  store.parameters = std::make_shared<memcached_parameters>(floats, *client);
  store.records = make_memcached_records(*client);
  return store;
}

}  // namespace emnist
