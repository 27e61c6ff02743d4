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

#include "base/printable.hpp"
#include "runtime/store/block_codec.hpp"
#include "runtime/store/memcached_client.hpp"

namespace emnist {

namespace {

namespace asio = boost::asio;
using asio::awaitable;
using clock_type = std::chrono::steady_clock;

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
    for (std::size_t b = 0; b < blocks_; ++b) {
      auto st = std::make_unique<block_state>();
      st->local.assign(floats_in(b), 0.0f);
      st->written.assign(floats_in(b), 0.0f);
      state_.push_back(std::move(st));
    }
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

  /// Adds `delta` to this process's view of the parameters and queues it
  /// for the next write of each block; completes at once, unless a block
  /// holds more than max_unwritten pushes memcached has not stored: then
  /// once it holds fewer (the caller's replica pauses while its server is
  /// down). A write that failed reports its error here, on the next push
  /// (and fetch).
  void push(std::span<const float> delta, completion done) override {
    pushes_.fetch_add(1, std::memory_order_relaxed);
    if (delta.size() != floats_) return done(size_error(delta.size()));
    if (auto failed = queue_delta(delta); !failed) return done(failed.error());
    if (!backlogged()) return done({});
    spawn(drained_op(), std::move(done));
  }

  /// The push, then this process's view (which holds it): the caller
  /// compares the version with what it knows.
  void push_and_fetch(std::span<const float> delta, std::span<float> out,
                      fetch_completion done) override {
    pushes_.fetch_add(1, std::memory_order_relaxed);
    fetches_.fetch_add(1, std::memory_order_relaxed);
    if (delta.size() != floats_) return done(size_error(delta.size()));
    if (out.size() != floats_) return done(size_error(out.size()));
    if (auto queued = queue_delta(delta); !queued) return done(queued.error());
    if (backlogged()) return spawn(drained_fetch_op(out), std::move(done));
    fetch_from_view(out, mixed_version, std::move(done));
  }

  /// From this process's view when it has one (a write of every block has
  /// landed, and nothing failed since): memcached's value as of this
  /// process's last write or check of each block, plus the deltas pushed
  /// here since; at once while every block was checked within
  /// max_view_age, else once the old ones are checked (other processes'
  /// pushes). With `known_version` = mixed_version (a caller that wants
  /// memcached's own word: the evaluator, a first fetch), from memcached,
  /// after this process's queued pushes have landed.
  void fetch(std::span<float> out, std::uint64_t known_version,
             fetch_completion done) override {
    fetches_.fetch_add(1, std::memory_order_relaxed);
    if (out.size() != floats_) return done(size_error(out.size()));
    if (known_version == mixed_version) {
      return spawn(fetch_op(out, known_version), std::move(done));
    }
    fetch_from_view(out, known_version, std::move(done));
  }

  void restore(std::span<const float> params, completion done) override {
    if (params.size() != floats_) return done(size_error(params.size()));
    spawn(restore_op(params), std::move(done));
  }

  store_stats stats() const override {
    store_stats s;
    s.views_checked = checked_.load();
    s.views_refreshed = refreshed_.load();
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
    s.pushes_held = held_.load();
    s.fetches_local = local_fetches_.load();
    s.server_retries = client_->server_retries();
    s.servers_failed_over = client_->servers_failed_over();
    return s;
  }

 private:
  template <class T, class Done>
  void spawn(awaitable<expected<T>> op, Done done) {
    client_->spawn(ops_, std::move(op), std::move(done));
  }

  /// What a fetch from the view finds.
  enum class view_state { fresh, stale, absent };

  /// Whether every block has a view, checked no earlier than `since`.
  view_state state_of_view(clock_type::time_point since) {
    view_state v = view_state::fresh;
    for (const auto& st : state_) {
      std::lock_guard guard(st->mutex);
      if (st->failed || !st->valid) return view_state::absent;
      if (st->confirmed < since) v = view_state::stale;
    }
    return v;
  }

  /// Whether this process has seen no other process's write to the job
  /// for four lone_intervals (see memcached_options::lone_interval).
  bool alone() const {
    if (options_.lone_interval.count() <= 0) return false;
    const auto seen = clock_type::time_point(
        clock_type::duration(foreign_seen_.load(std::memory_order_relaxed)));
    return clock_type::now() - seen > 4 * options_.lone_interval;
  }

  /// A block read showed a write of another process (or its restore):
  /// this process is no longer alone on the job.
  void note_foreign_write() {
    foreign_seen_.store(clock_type::now().time_since_epoch().count(),
                        std::memory_order_relaxed);
  }

  /// Whether `writer` (a block header's) is one of this process's writes
  /// or the set-up's (0): neither says another process trains the job.
  bool own_write(std::uint64_t writer) const {
    return writer == 0 ||
           writer - writer_base_ < writer_seq_.load(std::memory_order_relaxed);
  }

  /// How old the view may be now: max_view_age, or lone_interval while
  /// this process is alone (negative: never checked).
  std::chrono::microseconds view_age() const {
    const auto age = options_.max_view_age;
    if (age.count() < 0 || !alone()) return age;
    return std::max<std::chrono::microseconds>(age, options_.lone_interval);
  }

  /// The least time between two writes of a block: write_interval, or
  /// half of lone_interval while this process is alone (each write
  /// confirms the view, so that fetches find it fresh and never wait).
  clock_type::duration write_interval() const {
    const clock_type::duration pace = options_.write_interval;
    if (!alone()) return pace;
    return std::max<clock_type::duration>(pace, options_.lone_interval / 2);
  }

  /// The oldest check a fetch asked for now may use.
  clock_type::time_point freshness_bound(std::chrono::microseconds age) const {
    if (age.count() < 0) return clock_type::time_point::min();
    return clock_type::now() - age;
  }

  /// A fetch from the view: at once when it is fresh, after the stale
  /// blocks are checked when it is not, from memcached when there is none.
  /// A view past half its age is served at once, and checked meanwhile
  /// for the fetches to come.
  void fetch_from_view(std::span<float> out, std::uint64_t known,
                       fetch_completion done) {
    const auto age = view_age();
    const auto since = freshness_bound(age);
    switch (state_of_view(since)) {
      case view_state::fresh:
        if (age.count() > 0) {
          const auto soon = clock_type::now() - age / 2;
          if (state_of_view(soon) == view_state::stale) request_checks(soon);
        }
        if (auto local = fetch_local(out, known))
          return done(std::move(*local));
        break;
      case view_state::stale:
        return spawn(checked_fetch_op(out, known, since), std::move(done));
      case view_state::absent:
        break;
    }
    spawn(fetch_op(out, known), std::move(done));
  }

  /// Starts a check of every block checked before `since` (its loop runs
  /// one at once, or writes, which checks it too).
  void request_checks(clock_type::time_point since) {
    std::vector<std::size_t> start;
    for (std::size_t b = 0; b < blocks_; ++b) {
      auto& st = *state_[b];
      std::lock_guard guard(st.mutex);
      if (st.confirmed >= since || st.check_wanted) continue;
      st.check_wanted = true;
      if (!st.writing) {
        st.writing = true;
        start.push_back(b);
      }
    }
    start_loops(start);
  }

  /// Asks every block checked before `since` for a check (its loop runs
  /// one at once, or writes, which checks it too), then serves the view.
  awaitable<expected<std::uint64_t>> checked_fetch_op(
      std::span<float> out, std::uint64_t known, clock_type::time_point since) {
    request_checks(since);
    // Woken after every round of every block's loop, like a flush.
    while (state_of_view(since) == view_state::stale) {
      asio::steady_timer wake(client_->io(),
                              asio::steady_timer::time_point::max());
      flush_waiters_.push_back(&wake);
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (auto local = fetch_local(out, known)) co_return *local;
    // A check failed, or a restore dropped the view: memcached's word.
    co_return co_await fetch_op(out, known);
  }

  void start_loops(const std::vector<std::size_t>& blocks) {
    for (const std::size_t b : blocks) {
      ops_.begin();  // write_loop() ends it
      asio::co_spawn(client_->io(), write_loop(b), asio::detached);
    }
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

  /// One gets/cas attempt on block `b`: applied, or aborted on a CAS
  /// conflict, not_found when the block is missing, or another error. The
  /// block's new value is its value plus `deltas`, added one by one in push
  /// order (so one replica alone ends bit for bit where the embedded store
  /// does, however its pushes were grouped into writes); it goes to `out`,
  /// its version to `version`. A block whose writer is this write already
  /// holds it: an earlier cas was applied though its reply was lost.
  ///
  /// When the block still holds what this store last wrote to it (its
  /// CAS token unchanged, checked by the cas itself), the gets is
  /// skipped: the sum is made on the cached copy. Only the block's write
  /// loop calls it, so the cache needs no lock of its own.
  expected<void> add_to_block(std::size_t b,
                              std::span<const std::vector<float>> deltas,
                              std::uint64_t writer, std::span<float> out,
                              std::uint64_t& version) {
    const auto pushes = static_cast<std::uint64_t>(deltas.size());
    auto c = client_->pool().acquire();
    auto& cache = *cache_[b];
    if (cache.valid && options_.push_reads == push_read_policy::when_changed) {
      const auto route = c.route_of(keys_[b]);
      // A token means something only to the server instance that gave it:
      // a restarted server hands the same tokens out again.
      if (route.instance != 0 && route.instance == cache.instance &&
          route.server == cache.server) {
        read_payload(cached_payload(cache), out);
        add_deltas(deltas, out);
        const auto value =
            encode_block({static_cast<std::uint32_t>(b), cache.version + pushes,
                          options_.job_tag, writer},
                         out, c.encode_buffer());
        auto token = c.cas_value(keys_[b], value, cache.cas);
        cache.valid = false;
        if (token) {
          sent_.fetch_add(value.size(), std::memory_order_relaxed);
          reads_skipped_.fetch_add(1, std::memory_order_relaxed);
          keep(cache, c, value.size(), cache.version + pushes, *token, route);
          version = cache.version;
          return {};
        }
        // Another writer came in between (or the block went): read it. A
        // lost reply is an error: the retry reads the block and finds this
        // write's id if the cas was applied.
        if (token.error().code != errc::aborted &&
            token.error().code != errc::not_found) {
          return token.error();
        }
        note_foreign_write();
      }
      cache.valid = false;
    }
    auto v = c.get_value(keys_[b], block_header_bytes + 4 * floats_in(b));
    if (!v) return v.error();
    received_.fetch_add(v->bytes.size(), std::memory_order_relaxed);
    auto block = decode_block(v->bytes, expect(b), keys_[b]);
    if (!block) return block.error();
    read_payload(block->payload, out);
    if (!own_write(block->writer)) note_foreign_write();
    if (block->writer == writer) {
      version = block->version;
      return {};
    }
    add_deltas(deltas, out);
    version = block->version + pushes;
    const auto value = encode_block(
        {static_cast<std::uint32_t>(b), version, options_.job_tag, writer}, out,
        c.encode_buffer());
    auto token = c.cas_value(keys_[b], value, v->cas);
    if (!token) return token.error();
    sent_.fetch_add(value.size(), std::memory_order_relaxed);
    // Kept whatever sync.push_reads says: a check of the view compares
    // tokens with it.
    keep(cache, c, value.size(), version, *token, c.route_of(keys_[b]));
    return {};
  }

  /// Checks block `b` against memcached: unchanged since this process last
  /// wrote or read it (the CAS token it holds is the cached one), or read
  /// into `out` (its version to `version`) and cached. Only the block's
  /// loop calls it. Returns whether the block had changed.
  expected<bool> check_block(std::size_t b, std::span<float> out,
                             std::uint64_t& version) {
    auto c = client_->pool().acquire();
    auto& cache = *cache_[b];
    checked_.fetch_add(1, std::memory_order_relaxed);
    if (cache.valid) {
      const auto route = c.route_of(keys_[b]);
      if (route.instance != 0 && route.instance == cache.instance &&
          route.server == cache.server) {
        auto token = c.token_of(keys_[b]);
        if (!token) return token.error();
        if (*token == cache.cas) {
          version = cache.version;
          return false;
        }
      }
    }
    cache.valid = false;
    auto v = c.get_value(keys_[b], block_header_bytes + 4 * floats_in(b));
    if (!v) return v.error();
    received_.fetch_add(v->bytes.size(), std::memory_order_relaxed);
    auto block = decode_block(v->bytes, expect(b), keys_[b]);
    if (!block) return block.error();
    read_payload(block->payload, out);
    if (!own_write(block->writer)) note_foreign_write();
    version = block->version;
    const auto length = v->bytes.size();
    const auto cas = v->cas;
    // The value read becomes the cache's (its buffer, not a copy).
    c.swap_value_buffer(cache.value);
    cache.length = length;
    cache.version = version;
    cache.cas = cas;
    auto route = c.route_of(keys_[b]);
    cache.server = std::move(route.server);
    cache.instance = route.instance;
    cache.valid = true;
    refreshed_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }

  static void add_deltas(std::span<const std::vector<float>> deltas,
                         std::span<float> out) {
    float* o = out.data();
    for (const auto& d : deltas) {
      const float* x = d.data();
      for (std::size_t i = 0; i < out.size(); ++i) o[i] += x[i];
    }
  }

  /// A block's value as this store last wrote it, with memcached's token.
  /// The block's write loop alone uses it (on the io thread).
  struct block_cache {
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

  /// A block as this process knows it, and what it has not written yet.
  /// Guarded by its mutex: pushes and fetches run on the callers' threads,
  /// writes on the io thread.
  struct block_state {
    std::mutex mutex;
    /// memcached's value after this process's last write of the block
    /// landed, plus the deltas pushed here since; valid once one landed.
    bool valid = false;
    std::vector<float> local;
    std::uint64_t local_version = 0;
    /// This block's part of each push not yet in a write, in push order.
    std::vector<std::vector<float>> pending;
    std::vector<std::vector<float>> spare;  ///< buffers to reuse
    bool writing = false;         ///< a write loop runs on the io thread
    std::uint64_t queued = 0;     ///< pushes queued, ever
    std::optional<error> failed;  ///< the last write's failure, sticky
    std::uint64_t landed = 0;     ///< pushes in writes that landed
    /// io thread only: the pushes of the write under way, and its value.
    std::vector<std::vector<float>> in_write;
    std::vector<float> written;
    clock_type::time_point last_write;  ///< when the last write started
    /// When the round that last made the view memcached's value (plus
    /// what was pending) began: a write that landed, or a check.
    clock_type::time_point confirmed{};
    /// A fetch waits for a check of the block: the loop runs one now.
    bool check_wanted = false;
  };

  /// Adds `delta` to every block's view and queue; starts the writes of the
  /// blocks that have none running. The first failure of a block's last
  /// write comes back instead (nothing is queued then).
  expected<void> queue_delta(std::span<const float> delta) {
    std::vector<std::size_t> start;
    for (std::size_t b = 0; b < blocks_; ++b) {
      auto& st = *state_[b];
      std::lock_guard guard(st.mutex);
      if (st.failed) return *st.failed;
    }
    for (std::size_t b = 0; b < blocks_; ++b) {
      const auto part = block_of(delta, b);
      auto& st = *state_[b];
      std::lock_guard guard(st.mutex);
      if (st.spare.empty()) {
        st.pending.emplace_back(part.begin(), part.end());
      } else {
        st.pending.push_back(std::move(st.spare.back()));
        st.spare.pop_back();
        std::copy(part.begin(), part.end(), st.pending.back().begin());
      }
      ++st.queued;
      if (st.valid) {
        float* local = st.local.data();
        for (std::size_t i = 0; i < part.size(); ++i) local[i] += part[i];
        ++st.local_version;
      }
      if (!st.writing) {
        st.writing = true;
        start.push_back(b);
      }
    }
    start_loops(start);
    return {};
  }

  /// This process's view of every block, when it has one; its version
  /// when every block has the same, else mixed_version. "Not modified"
  /// (no copy) when that version is `known`.
  std::optional<expected<std::uint64_t>> fetch_local(std::span<float> out,
                                                     std::uint64_t known) {
    std::vector<std::unique_lock<std::mutex>> locks;
    std::optional<std::uint64_t> version;
    bool mixed = false;
    for (std::size_t b = 0; b < blocks_; ++b) {
      auto& st = *state_[b];
      locks.emplace_back(st.mutex);
      if (st.failed) return expected<std::uint64_t>(*st.failed);
      if (!st.valid) return std::nullopt;
      if (version && *version != st.local_version) mixed = true;
      version = st.local_version;
    }
    if (!mixed && version && *version == known) {
      not_modified_.fetch_add(1, std::memory_order_relaxed);
      return expected<std::uint64_t>(known);
    }
    for (std::size_t b = 0; b < blocks_; ++b) {
      const auto& local = state_[b]->local;
      std::copy(
          local.begin(), local.end(),
          out.begin() + static_cast<std::ptrdiff_t>(b * options_.block_floats));
    }
    local_fetches_.fetch_add(1, std::memory_order_relaxed);
    return expected<std::uint64_t>(mixed ? mixed_version
                                         : version.value_or(mixed_version));
  }

  /// Writes block `b` while deltas are queued for it, and checks it when a
  /// fetch asks: each write adds all of the queued deltas in one gets/cas,
  /// so the replicas of this process cost memcached one write per block
  /// and round, not one each. When a write lands (or a check finds what
  /// memcached holds), the view becomes that value plus what was queued
  /// meanwhile. A write or check that fails is sticky: the next push or
  /// fetch reports it (a missing block: the replicas restore it; anything
  /// else ends the job).
  awaitable<void> write_loop(std::size_t b) {
    auto& st = *state_[b];
    for (;;) {
      // Paced: the pushes queued while it waits share the write. A flush
      // (a fetch for memcached's word) or a check waiting already skips
      // the pace; one that comes during it waits write_interval at most.
      bool check = false;
      {
        std::lock_guard guard(st.mutex);
        check = st.check_wanted;
      }
      if (const auto since = clock_type::now() - st.last_write,
          pace = write_interval();
          since < pace && flush_waiters_.empty() && !check) {
        co_await coro::sleep_for(pace - since);
      }
      {
        std::lock_guard guard(st.mutex);
        if (st.pending.empty() && !st.check_wanted) {
          st.writing = false;
          break;
        }
        st.in_write.swap(st.pending);
        // A write checks the block too: it lands on memcached's value.
        st.check_wanted = false;
      }
      const auto round_start = clock_type::now();
      std::optional<expected<void>> r;
      std::uint64_t version = 0;
      const auto pushes = static_cast<std::uint64_t>(st.in_write.size());
      bool changed = true;
      try {
        if (pushes == 0) {
          auto checked = co_await check_with_retries(b, version);
          if (checked) {
            changed = *checked;
            r.emplace();
          } else {
            r.emplace(checked.error());
          }
        } else {
          st.last_write = round_start;
          if (pushes > 1) {
            combined_.fetch_add(pushes - 1, std::memory_order_relaxed);
          }
          const std::uint64_t writer =
              writer_base_ +
              writer_seq_.fetch_add(1, std::memory_order_relaxed);
          // The block's version counts the pushes in it.
          r.emplace(co_await add_with_retries(b, writer, version));
        }
      } catch (const std::exception& e) {
        r.emplace(make_error(errc::internal,
                             std::string("memcached store: ") + e.what()));
      }
      {
        std::lock_guard guard(st.mutex);
        for (auto& d : st.in_write) st.spare.push_back(std::move(d));
        st.in_write.clear();
        st.landed += pushes;  // a flush must not wait on it, even failed
        if (!*r) {
          // What this write carried is lost with the block (the replicas'
          // restore writes their own copies back); the rest waits.
          st.failed = r->error();
          st.valid = false;
          st.writing = false;
          break;
        }
        if (changed || !st.valid) {
          st.local = st.written;
          add_deltas(st.pending, st.local);
          st.local_version = version + st.pending.size();
        }
        st.valid = true;
        st.confirmed = round_start;
      }
      // Outside the lock: both may start coroutines, which run at once
      // on this thread.
      if (pushes > 0) landed_changed();
      wake_flush_waiters();
    }
    wake_flush_waiters();
    ops_.end();
  }

  /// check_block on block `b` with the client's retry and failover.
  awaitable<expected<bool>> check_with_retries(std::size_t b,
                                               std::uint64_t& version) {
    auto& st = *state_[b];
    auto attempt = [&] {
      return check_block(b, st.written, version);
    };
    co_return co_await client_->with_retry<bool>(attempt);
  }

  /// Raises the job's push count (and pushes_applied) to what every block
  /// has landed: a count never runs ahead of the blocks.
  void landed_changed() {
    std::uint64_t all = ~std::uint64_t{0};
    for (const auto& st : state_) all = std::min(all, st->landed);
    const std::uint64_t before = counted_.exchange(
        std::max(all, counted_.load(std::memory_order_relaxed)));
    if (all > before) {
      applied_.fetch_add(all - before, std::memory_order_relaxed);
      ops_.begin();  // bump_version() ends it
      asio::co_spawn(client_->io(), bump_version(all - before), asio::detached);
    }
  }

  /// Whether every block has landed `targets` pushes or failed (its
  /// queue then waits for a restore, which the flush's caller must hear
  /// of first).
  bool landed_all(const std::vector<std::uint64_t>& targets) {
    for (std::size_t b = 0; b < blocks_; ++b) {
      std::lock_guard guard(state_[b]->mutex);
      if (state_[b]->landed < targets[b] && !state_[b]->failed) return false;
    }
    return true;
  }

  /// Resumes once the pushes queued in this process before it was called
  /// have landed (or failed); later ones do not hold it up.
  awaitable<void> flush() {
    std::vector<std::uint64_t> targets;
    for (const auto& st : state_) {
      std::lock_guard guard(st->mutex);
      targets.push_back(st->queued);
    }
    while (!landed_all(targets)) {
      asio::steady_timer wake(client_->io(),
                              asio::steady_timer::time_point::max());
      flush_waiters_.push_back(&wake);
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
  }

  /// Whether a block holds more than max_unwritten of this process's
  /// pushes that memcached has not stored (and no failure to report).
  bool backlogged() {
    for (const auto& st : state_) {
      std::lock_guard guard(st->mutex);
      if (st->failed) return false;
      if (st->queued - st->landed > options_.max_unwritten) return true;
    }
    return false;
  }

  /// Resumes once no block is backlogged: each write that lands (or
  /// fails, or a restore) wakes it to look again.
  awaitable<expected<void>> drained_op() {
    held_.fetch_add(1, std::memory_order_relaxed);
    while (backlogged()) {
      asio::steady_timer wake(client_->io(),
                              asio::steady_timer::time_point::max());
      flush_waiters_.push_back(&wake);
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    for (const auto& st : state_) {
      std::lock_guard guard(st->mutex);
      if (st->failed) co_return *st->failed;
    }
    co_return expected<void>{};
  }

  /// push_and_fetch's fetch once the backlog has drained.
  awaitable<expected<std::uint64_t>> drained_fetch_op(std::span<float> out) {
    if (auto drained = co_await drained_op(); !drained) {
      co_return drained.error();
    }
    if (auto local = fetch_local(out, mixed_version)) co_return *local;
    co_return co_await fetch_op(out, mixed_version);
  }

  void wake_flush_waiters() {
    auto waiters = std::move(flush_waiters_);
    flush_waiters_.clear();
    for (auto* w : waiters) w->cancel();
  }

  /// add_to_block with the write under way on block `b`, again on a CAS
  /// conflict (another writer came in between the read and the write),
  /// with a short backoff.
  awaitable<expected<void>> add_with_retries(std::size_t b,
                                             std::uint64_t writer,
                                             std::uint64_t& version) {
    auto& st = *state_[b];
    auto attempt = [&] {
      return add_to_block(b, st.in_write, writer, st.written, version);
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

  /// Adds one to the job's count of applied pushes (best effort: a count
  /// that lags only costs fetches that could have been skipped).
  awaitable<void> bump_version(std::uint64_t by) {
    auto bump = [&]() -> expected<void> {
      auto c = client_->pool().acquire();
      return c.increment(version_key_, by);
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
    co_await flush();  // a fetch sees this process's pushes
    // ... or hears why it cannot: a write that failed.
    for (const auto& st : state_) {
      std::lock_guard guard(st->mutex);
      if (st->failed) co_return *st->failed;
    }
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
    auto r = co_await client_->with_retry<void>(write_missing);
    if (r) {
      // The blocks exist again: writes may go on (from memcached's value:
      // each block's view is rebuilt by its next write that lands).
      for (std::size_t b = 0; b < blocks_; ++b) {
        auto& st = *state_[b];
        std::lock_guard guard(st.mutex);
        st.valid = false;
        if (!st.failed) continue;
        st.failed.reset();
        // What was queued for a lost block goes with it, like the write
        // that failed: the restored value holds the restoring replica's
        // pushes (written again, they would count twice).
        st.landed += st.pending.size();
        for (auto& d : st.pending) st.spare.push_back(std::move(d));
        st.pending.clear();
      }
      landed_changed();
      wake_flush_waiters();
    }
    co_return r;
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
  /// When a read last showed another process's write (steady clock
  /// ticks); from the start, so that a process is alone only once it has
  /// looked for that long.
  std::atomic<clock_type::rep> foreign_seen_{
      clock_type::now().time_since_epoch().count()};
  std::atomic<std::uint64_t> pushes_{0}, applied_{0}, fetches_{0};
  std::atomic<std::uint64_t> not_modified_{0};
  std::atomic<std::uint64_t> sent_{0}, received_{0}, cas_retries_{0};
  std::atomic<std::uint64_t> restored_{0}, reads_skipped_{0}, combined_{0};
  std::atomic<std::uint64_t> held_{0};
  std::atomic<std::uint64_t> checked_{0}, refreshed_{0};
  std::vector<std::unique_ptr<block_cache>> cache_;  ///< one per block
  std::vector<std::unique_ptr<block_state>> state_;  ///< one per block
  std::vector<asio::steady_timer*> flush_waiters_;   ///< io thread only
  std::atomic<std::uint64_t> counted_{0};  ///< pushes landed in every block
  std::atomic<std::uint64_t> local_fetches_{0};
  std::shared_ptr<memcached_client> client_;
  operation_count ops_;  ///< last: the destructor waits for them first
};

}  // namespace

expected<job_store> make_memcached_store(std::size_t floats,
                                         const memcached_options& o) {
  if (!valid_job_name(o.job)) {
    return make_error(errc::invalid_argument,
                      "sync.job: '" + printable(o.job) + "': " + job_name_rule);
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
