// Small Asio C++20-coroutine building blocks for the stores' I/O: run a
// blocking call on a thread pool and resume on the caller's executor, sleep
// without blocking, and run several coroutines at once and wait for all.
//
//   asio::awaitable<void> op(asio::thread_pool& pool) {
//     int r = 0;
//     auto call = [&] { r = blocking_read(); };   // name it: see below
//     co_await coro::on_pool(pool.get_executor(), call);  // io stays free
//     co_await coro::sleep_for(5ms);
//     co_await coro::run_parallel(4, [&](std::size_t i) { return part(i); });
//   }
//
// Heavy header (Asio): include it only in the few .cpp files that run
// coroutines. g++ 12 miscompiles a lambda capturing a std::string when it
// is created inside a co_await expression, so bind lambdas to named locals.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <exception>

namespace emnist::coro {

namespace asio = boost::asio;

/// Runs `fn()` on the threads behind executor `pool` and resumes the
/// awaiting coroutine on its own executor. `fn` must not throw and must
/// stay alive until resumption (a named local of the awaiting coroutine
/// does). The awaiting executor is kept busy meanwhile, so its io_context
/// does not run out of work.
template <class Executor, class F>
asio::awaitable<void> on_pool(Executor pool, F& fn) {
  auto initiate = [pool, &fn](auto handler) {
    auto work = asio::make_work_guard(asio::get_associated_executor(handler));
    asio::post(pool, [&fn, handler = std::move(handler),
                      work = std::move(work)]() mutable {
      fn();
      auto ex = asio::get_associated_executor(handler);
      asio::post(ex, std::move(handler));
    });
  };
  co_await asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
      initiate, asio::use_awaitable);
}

/// Suspends the coroutine for `d` without blocking its thread.
inline asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

/// Starts `part(0) ... part(n-1)` (each returning awaitable<void>) at once
/// on the current executor and resumes when all have finished. Their
/// state may live in the awaiting coroutine: it outlives them. The first
/// exception one of them throws is rethrown here, after all have ended.
template <class Part>
asio::awaitable<void> run_parallel(std::size_t n, Part part) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
  std::size_t left = n;
  std::exception_ptr first;
  auto finished = [&](std::exception_ptr e) {
    if (e && !first) first = e;
    if (--left == 0) all_done.cancel();
  };
  for (std::size_t i = 0; i < n; ++i) {
    asio::co_spawn(ex, part(i), finished);
  }
  if (left > 0) {
    co_await all_done.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (first) std::rethrow_exception(first);
}

}  // namespace emnist::coro
