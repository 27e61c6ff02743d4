// The memcached store's operations as coroutines on its own io_context:
// pushes add each block by gets/cas (all blocks at once, each retried on
// conflict), fetches read every block in one multi-get unless the job's
// version counter says nothing changed, and every call is retried while a
// server is unreachable, then failed over or reported.
#include "runtime/store/memcached_store.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <charconv>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "runtime/store/block_codec.hpp"
#include "runtime/store/coro.hpp"
#include "runtime/store/memcached_pool.hpp"

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

const char* value_ptr(std::span<const std::byte> v) {
  return reinterpret_cast<const char*>(v.data());
}

class memcached_store final : public parameter_store {
 public:
  memcached_store(std::size_t floats, memcached_options o,
                  std::unique_ptr<memcached_pool> pool)
      : floats_(floats),
        options_(std::move(o)),
        blocks_((floats + options_.block_floats - 1) / options_.block_floats),
        prefix_("emnist:" + options_.job + ":"),
        version_key_(prefix_ + "version"),
        connections_(std::move(pool)),
        writer_base_(std::random_device{}() | (std::uint64_t{1} << 63)),
        work_(asio::make_work_guard(io_)),
        calls_work_(asio::make_work_guard(calls_)) {
    for (std::size_t b = 0; b < blocks_; ++b) {
      keys_.push_back(prefix_ + "b:" + std::to_string(b));
      cache_.push_back(std::make_unique<block_cache>());
    }
    combiners_.resize(blocks_);
    // Threads last, once everything they may touch exists; if one cannot
    // start, those that did are stopped before the error goes on.
    try {
      io_thread_ = std::thread([this] { io_.run(); });
      for (std::size_t i = 0; i < std::max<std::size_t>(options_.io_threads, 1);
           ++i) {
        call_threads_.emplace_back([this] { calls_.run(); });
      }
    } catch (...) {
      stop_threads();
      throw;
    }
  }

  // Operations still under way finish first (bounded by retry_for): the
  // io thread runs until no coroutine is left, then the call threads.
  ~memcached_store() override { stop_threads(); }

  std::size_t size() const override { return floats_; }
  std::string kind() const override { return "memcached"; }

  expected<void> initialize(std::span<const float> params) override {
    if (params.size() != floats_) return size_error(params.size());
    auto c = connections_->acquire();
    for (std::size_t b = 0; b < blocks_; ++b) {
      const auto value =
          encode_block({static_cast<std::uint32_t>(b), 0, options_.job_tag},
                       block_of(params, b), c->value);
      if (auto rc = memcached_set(c.memc(), keys_[b].data(), keys_[b].size(),
                                  value_ptr(value), value.size(), 0, 0);
          rc != MEMCACHED_SUCCESS) {
        return c.failure(rc, keys_[b]);
      }
    }
    if (auto rc = memcached_set(c.memc(), version_key_.data(),
                                version_key_.size(), "0", 1, 0, 0);
        rc != MEMCACHED_SUCCESS) {
      return c.failure(rc, version_key_);
    }
    return {};
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

  void read_record(const std::string& name, record_completion done) override {
    spawn(read_record_op(prefix_ + name), std::move(done));
  }

  void write_record(const std::string& name, std::string value,
                    completion done) override {
    spawn(write_record_op(prefix_ + name, std::move(value)), std::move(done));
  }

  void erase_record(const std::string& name, completion done) override {
    spawn(erase_record_op(prefix_ + name), std::move(done));
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
    s.server_retries = server_retries_.load();
    s.servers_failed_over = failed_over_.load();
    return s;
  }

 private:
  /// Runs `op` on the io thread and hands its result to `done` there. An
  /// exception (a bug) becomes an internal error, never a lost completion.
  template <class T, class Done>
  void spawn(awaitable<expected<T>> op, Done done) {
    auto wrapped = [](awaitable<expected<T>> inner, Done d) -> awaitable<void> {
      std::optional<expected<T>> r;
      try {
        r.emplace(co_await std::move(inner));
      } catch (const std::exception& e) {
        r.emplace(make_error(errc::internal,
                             std::string("memcached store: ") + e.what()));
      }
      d(std::move(*r));
    };
    asio::co_spawn(io_, wrapped(std::move(op), std::move(done)),
                   asio::detached);
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

  void stop_threads() {
    work_.reset();
    if (io_thread_.joinable()) io_thread_.join();
    calls_work_.reset();
    for (auto& t : call_threads_) t.join();
  }

  error size_error(std::size_t got) const {
    return make_error(errc::invalid_argument,
                      "memcached store: expected " + std::to_string(floats_) +
                          " floats, got " + std::to_string(got));
  }

  /// Runs the blocking `call` (returning expected<T>) on a call thread,
  /// again while it reports an unreachable server, with backoff. After
  /// options_.retry_for without success it fails, or with the failover
  /// policy drops that server from the pool and goes on with the others.
  template <class T, class Call>
  awaitable<expected<T>> with_retry(Call& call) {
    auto deadline = clock_type::now() + options_.retry_for;
    auto backoff = std::chrono::milliseconds(5);
    for (;;) {
      std::optional<expected<T>> r;
      std::string failed_server;
      auto run = [&] {
        r.emplace(call());
        if (!*r) failed_server = memcached_pool::last_failed_server();
      };
      co_await coro::on_pool(calls_.get_executor(), run);
      if (*r || r->error().code != errc::unavailable) co_return std::move(*r);
      server_retries_.fetch_add(1, std::memory_order_relaxed);
      if (clock_type::now() + backoff <= deadline) {
        co_await coro::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
        continue;
      }
      const std::string why = r->error().message;
      if (options_.on_server_failure == server_failure_policy::failover) {
        const auto outcome = connections_->eject(failed_server);
        if (outcome == memcached_pool::ejection::dropped) {
          failed_over_.fetch_add(1, std::memory_order_relaxed);
          std::fprintf(stderr,
                       "memcached: server %s unreachable for %lld ms; failing "
                       "over to the other %zu (sync.on_server_failure = "
                       "\"failover\"): %s\n",
                       failed_server.c_str(),
                       static_cast<long long>(options_.retry_for.count()),
                       connections_->servers(), why.c_str());
        }
        if (outcome != memcached_pool::ejection::last_one) {
          deadline = clock_type::now() + options_.retry_for;
          backoff = std::chrono::milliseconds(5);
          continue;
        }
      }
      co_return make_error(
          errc::unavailable,
          why + " (unreachable for " +
              std::to_string(options_.retry_for.count()) +
              " ms, sync.retry_ms; sync.on_server_failure = \"" +
              (options_.on_server_failure == server_failure_policy::failover
                   ? "failover\", no other server left)"
                   : "fail\")"));
    }
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
    auto c = connections_->acquire();
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
                             cached_payload(cache), part, c->value);
        auto token = c.cas_value(keys_[b], value, cache.cas);
        cache.valid = false;
        if (token) {
          sent_.fetch_add(value.size(), std::memory_order_relaxed);
          reads_skipped_.fetch_add(1, std::memory_order_relaxed);
          keep(cache, *c, value.size(), cache.version + pushes, *token, route);
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
                         block->payload, part, c->value);
    auto token = c.cas_value(keys_[b], value, v->cas);
    if (!token) return token.error();
    sent_.fetch_add(value.size(), std::memory_order_relaxed);
    if (options_.push_reads == push_read_policy::when_changed) {
      keep(cache, *c, value.size(), version, *token, c.route_of(keys_[b]));
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

  /// Makes the value just written from `c.value` the cache's (by swapping
  /// buffers: no copy).
  static void keep(block_cache& cache, memcached_pool::connection& c,
                   std::size_t length, std::uint64_t version, std::uint64_t cas,
                   memcached_pool::lease::route route) {
    std::swap(cache.value, c.value);
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
    asio::steady_timer wake(io_, asio::steady_timer::time_point::max());
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
      auto r = co_await with_retry<void>(attempt);
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
    asio::co_spawn(io_, bump_version(), asio::detached);
    const bool same = std::all_of(versions.begin(), versions.end(),
                                  [&](auto v) { return v == versions[0]; });
    co_return same && !versions.empty() ? versions[0] : mixed_version;
  }

  /// Adds one to the job's count of applied pushes (best effort: a count
  /// that lags only costs fetches that could have been skipped).
  awaitable<void> bump_version() {
    auto bump = [&]() -> expected<void> {
      auto c = connections_->acquire();
      std::uint64_t value = 0;
      const auto rc = memcached_increment(c.memc(), version_key_.data(),
                                          version_key_.size(), 1, &value);
      if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND) return {};
      return c.failure(rc, version_key_);
    };
    (void)co_await with_retry<void>(bump);
  }

  /// The job's count of applied pushes, or nullopt when it is missing.
  expected<std::optional<std::uint64_t>> read_version() {
    auto c = connections_->acquire();
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
    auto c = connections_->acquire();
    std::vector<const char*> keys;
    std::vector<std::size_t> lengths;
    for (const auto& k : keys_) {
      keys.push_back(k.data());
      lengths.push_back(k.size());
    }
    memcached_return_t rc =
        memcached_mget(c.memc(), keys.data(), lengths.data(), keys.size());
    if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_SOME_ERRORS) {
      return c.failure(rc, keys_[0]);
    }
    bool server_failed = rc == MEMCACHED_SOME_ERRORS;
    std::vector<bool> seen(blocks_, false);
    std::optional<std::uint64_t> version;
    bool mixed = false;
    std::optional<error> first_error;
    while (memcached_result_st* res =
               memcached_fetch_result(c.memc(), &c->result, &rc)) {
      const std::string_view key(memcached_result_key_value(res),
                                 memcached_result_key_length(res));
      const auto it = std::find(keys_.begin(), keys_.end(), key);
      const std::span<const std::byte> value(
          reinterpret_cast<const std::byte*>(memcached_result_value(res)),
          memcached_result_length(res));
      received_.fetch_add(value.size(), std::memory_order_relaxed);
      if (it == keys_.end() || first_error) continue;
      const auto b = static_cast<std::size_t>(it - keys_.begin());
      auto block = decode_block(value, expect(b), keys_[b]);
      if (!block) {
        first_error = block.error();
        continue;
      }
      read_payload(block->payload,
                   out.subspan(b * options_.block_floats, floats_in(b)));
      seen[b] = true;
      if (version && *version != block->version) mixed = true;
      version = block->version;
    }
    if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS &&
        rc != MEMCACHED_NOTFOUND) {
      server_failed = true;
    }
    if (first_error) return *first_error;
    for (std::size_t b = 0; b < blocks_; ++b) {
      if (seen[b]) continue;
      // A block not returned is missing, unless a server failed: then it
      // may be on that server, which a retry (or failover) finds out.
      return c.failure(
          server_failed ? MEMCACHED_CONNECTION_FAILURE : MEMCACHED_NOTFOUND,
          keys_[b]);
    }
    return mixed ? mixed_version : version.value_or(mixed_version);
  }

  awaitable<expected<std::uint64_t>> fetch_op(std::span<float> out,
                                              std::uint64_t known) {
    auto version_call = [&] {
      return read_version();
    };
    auto version =
        co_await with_retry<std::optional<std::uint64_t>>(version_call);
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
    co_return co_await with_retry<std::uint64_t>(blocks_call);
  }

  awaitable<expected<void>> restore_op(std::span<const float> params) {
    // A version far from any count of pushes, so that no replica takes the
    // restored parameters for ones it already has.
    const auto version = static_cast<std::uint64_t>(
                             clock_type::now().time_since_epoch().count()) |
                         (std::uint64_t{1} << 62);
    auto write_missing = [&]() -> expected<void> {
      auto c = connections_->acquire();
      for (std::size_t b = 0; b < blocks_; ++b) {
        const auto value = encode_block(
            {static_cast<std::uint32_t>(b), version, options_.job_tag},
            block_of(params, b), c->value);
        const auto rc =
            memcached_add(c.memc(), keys_[b].data(), keys_[b].size(),
                          value_ptr(value), value.size(), 0, 0);
        if (rc == MEMCACHED_SUCCESS) {
          restored_.fetch_add(1, std::memory_order_relaxed);
          sent_.fetch_add(value.size(), std::memory_order_relaxed);
        } else if (rc != MEMCACHED_NOTSTORED && rc != MEMCACHED_DATA_EXISTS) {
          return c.failure(rc, keys_[b]);  // NOTSTORED: it exists
        }
      }
      // A fresh count no replica holds, in case the count went too.
      const std::string count = std::to_string(version);
      const auto rc =
          memcached_add(c.memc(), version_key_.data(), version_key_.size(),
                        count.data(), count.size(), 0, 0);
      if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTSTORED &&
          rc != MEMCACHED_DATA_EXISTS) {
        return c.failure(rc, version_key_);
      }
      return {};
    };
    co_return co_await with_retry<void>(write_missing);
  }

  awaitable<expected<std::optional<std::string>>> read_record_op(
      std::string key) {
    auto call = [&]() -> expected<std::optional<std::string>> {
      auto c = connections_->acquire();
      auto v = c.get(key);
      if (!v) {
        if (v.error().code == errc::not_found) {
          return std::optional<std::string>{};
        }
        return v.error();
      }
      return std::optional<std::string>{
          std::in_place, reinterpret_cast<const char*>(v->bytes.data()),
          v->bytes.size()};
    };
    co_return co_await with_retry<std::optional<std::string>>(call);
  }

  awaitable<expected<void>> write_record_op(std::string key,
                                            std::string value) {
    auto call = [&]() -> expected<void> {
      auto c = connections_->acquire();
      const auto rc = memcached_set(c.memc(), key.data(), key.size(),
                                    value.data(), value.size(), 0, 0);
      if (rc != MEMCACHED_SUCCESS) return c.failure(rc, key);
      return {};
    };
    co_return co_await with_retry<void>(call);
  }

  awaitable<expected<void>> erase_record_op(std::string key) {
    auto call = [&]() -> expected<void> {
      auto c = connections_->acquire();
      const auto rc = memcached_delete(c.memc(), key.data(), key.size(), 0);
      if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
        return c.failure(rc, key);
      }
      return {};
    };
    co_return co_await with_retry<void>(call);
  }

  std::size_t floats_;
  memcached_options options_;
  std::size_t blocks_;
  std::string prefix_;       ///< "emnist:<job>:"
  std::string version_key_;  ///< count of pushes applied
  std::vector<std::string> keys_;
  std::unique_ptr<memcached_pool> connections_;
  /// Writer ids of pushes: random per store, then one more per push.
  std::uint64_t writer_base_;
  std::atomic<std::uint64_t> writer_seq_{0};
  std::atomic<std::uint64_t> pushes_{0}, applied_{0}, fetches_{0};
  std::atomic<std::uint64_t> not_modified_{0}, failed_over_{0};
  std::atomic<std::uint64_t> sent_{0}, received_{0}, cas_retries_{0};
  std::atomic<std::uint64_t> restored_{0}, reads_skipped_{0}, combined_{0};
  std::atomic<std::uint64_t> server_retries_{0};
  std::vector<std::unique_ptr<block_cache>> cache_;  ///< one per block
  std::vector<block_combiner> combiners_;  ///< one per block, io thread only
  // Last, in this order: the io thread stops before the call threads, and
  // both before anything above goes.
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  asio::io_context calls_;  ///< run by call_threads_: the blocking calls
  asio::executor_work_guard<asio::io_context::executor_type> calls_work_;
  std::thread io_thread_;
  std::vector<std::thread> call_threads_;
};

}  // namespace

expected<std::shared_ptr<parameter_store>> make_memcached_store(
    std::size_t floats, const memcached_options& o) {
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
  auto pool = memcached_pool::create(o);
  if (!pool) return pool.error();
  return std::shared_ptr<parameter_store>(
      std::make_shared<memcached_store>(floats, o, std::move(*pool)));
}

}  // namespace emnist
