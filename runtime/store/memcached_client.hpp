// What a job's memcached parameter store and record store share: the pool of
// connections, the io_context their operations run on as coroutines, the
// threads that run the blocking calls, and the retry-and-failover policy.
// Internal to runtime/store/ (Asio headers: include it from .cpp files only).
//
//   auto client = memcached_client::create(options);
//   client->spawn(self_counter, my_coroutine(), [](expected<T> r) { ... });
//   // inside a coroutine: a blocking call, retried while its server is
//   // unreachable, then failed over or failed (options.on_server_failure)
//   auto r = co_await client->with_retry<T>(call);
//
// Every operation is a C++20 coroutine on the client's io thread; the
// blocking calls run on `options.io_threads` threads of their own, each with
// a connection leased from the pool. Neither a CAF worker nor the io thread
// ever blocks on memcached.
#pragma once

#include <atomic>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "runtime/store/coro.hpp"
#include "runtime/store/memcached_options.hpp"
#include "runtime/store/memcached_pool.hpp"

namespace emnist {

/// Counts the operations under way of one user of the client, so that the
/// user's destructor can wait for them (they reference its members).
class operation_count {
 public:
  void begin() {
    std::lock_guard guard(mutex_);
    ++running_;
  }
  void end() {
    std::lock_guard guard(mutex_);
    if (--running_ == 0) idle_.notify_all();
  }
  /// Blocks until none is under way. Never call it on the client's threads.
  void wait_idle() {
    std::unique_lock lock(mutex_);
    idle_.wait(lock, [this] { return running_ == 0; });
  }

 private:
  std::mutex mutex_;
  std::condition_variable idle_;
  std::size_t running_ = 0;
};

class memcached_client {
 public:
  /// Validates the options (servers) and starts the threads; connects
  /// lazily, so an unreachable server shows in the first operation.
  [[nodiscard]] static expected<std::shared_ptr<memcached_client>> create(
      const memcached_options& options);

  /// Operations still under way finish first (bounded by retry_for): the
  /// io thread runs until no coroutine is left, then the call threads.
  ~memcached_client();
  memcached_client(const memcached_client&) = delete;
  memcached_client& operator=(const memcached_client&) = delete;

  const memcached_options& options() const { return options_; }
  memcached_pool& pool() { return *pool_; }
  boost::asio::io_context& io() { return io_; }

  /// Runs `op` on the io thread and hands its result to `done` there. An
  /// exception (a bug) becomes an internal error, never a lost completion.
  /// `count` tracks it for its owner's destructor.
  template <class T, class Done>
  void spawn(operation_count& count, boost::asio::awaitable<expected<T>> op,
             Done done) {
    count.begin();
    auto wrapped = [](boost::asio::awaitable<expected<T>> inner, Done d,
                      operation_count& c) -> boost::asio::awaitable<void> {
      std::optional<expected<T>> r;
      try {
        r.emplace(co_await std::move(inner));
      } catch (const std::exception& e) {
        r.emplace(make_error(errc::internal,
                             std::string("memcached store: ") + e.what()));
      }
      d(std::move(*r));
      c.end();
    };
    boost::asio::co_spawn(io_, wrapped(std::move(op), std::move(done), count),
                          boost::asio::detached);
  }

  /// Runs the blocking `call` (returning expected<T>) on a call thread,
  /// again while it reports an unreachable server, with backoff. After
  /// options.retry_for without success it fails, or with the failover
  /// policy drops the server the error names (error.origin) from the pool
  /// and goes on with the others.
  ///
  /// Bound: with "fail", a call fails at most retry_for plus one attempt
  /// (sync.timeout_ms for a connect or a read, more for a server that
  /// trickles bytes) after its first failure. With "failover", each server
  /// dropped restarts that clock.
  template <class T, class Call>
  boost::asio::awaitable<expected<T>> with_retry(Call& call) {
    auto deadline = std::chrono::steady_clock::now() + options_.retry_for;
    auto backoff = std::chrono::milliseconds(5);
    for (;;) {
      // Once one call has given up, every call fails at once with its
      // error: the job ends within retry_ms (and a call's timeout), not
      // after each of its operations has waited retry_ms in turn.
      if (auto e = given_up_error()) co_return *e;
      std::optional<expected<T>> r;
      auto run = [&] {
        r.emplace(call());
      };
      co_await coro::on_pool(calls_.get_executor(), run);
      if (*r || r->error().code != errc::unavailable) co_return std::move(*r);
      server_retries_.fetch_add(1, std::memory_order_relaxed);
      const auto now = std::chrono::steady_clock::now();
      if (now + backoff <= deadline) {
        co_await coro::sleep_for(backoff);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
        continue;
      }
      const error why = r->error();
      if (options_.on_server_failure == server_failure_policy::failover &&
          fail_over(why)) {
        deadline = std::chrono::steady_clock::now() + options_.retry_for;
        backoff = std::chrono::milliseconds(5);
        continue;
      }
      co_return give_up(why);
    }
  }

  std::uint64_t server_retries() const { return server_retries_.load(); }
  std::uint64_t servers_failed_over() const { return failed_over_.load(); }

 private:
  memcached_client(memcached_options options,
                   std::unique_ptr<memcached_pool> pool);
  /// Drops the server `why` names; false when no other is left.
  bool fail_over(const error& why);
  /// The error after retry_for: the last one, with the policy that ended it.
  error gave_up(const error& why) const;
  /// gave_up(why), remembered: later calls fail with it at once.
  error give_up(const error& why);
  std::optional<error> given_up_error() const;
  void stop_threads();

  memcached_options options_;
  std::unique_ptr<memcached_pool> pool_;
  std::atomic<std::uint64_t> server_retries_{0}, failed_over_{0};
  // Last, in this order: the io thread stops before the call threads, and
  // both before anything above goes.
  mutable std::mutex given_up_mutex_;
  std::optional<error> given_up_;  ///< the error a call gave up with
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type>
      work_;
  boost::asio::io_context calls_;  ///< run by call_threads_
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type>
      calls_work_;
  std::thread io_thread_;
  std::vector<std::thread> call_threads_;
};

}  // namespace emnist
