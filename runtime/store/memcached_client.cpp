// The memcached client's threads, failover and the error it gives up with.
#include "runtime/store/memcached_client.hpp"

namespace emnist {

expected<std::shared_ptr<memcached_client>> memcached_client::create(
    const memcached_options& options) {
  auto pool = memcached_pool::create(options);
  if (!pool) return pool.error();
  return std::shared_ptr<memcached_client>(
      new memcached_client(options, std::move(*pool)));
}

memcached_client::memcached_client(memcached_options options,
                                   std::unique_ptr<memcached_pool> pool)
    : options_(std::move(options)),
      pool_(std::move(pool)),
      work_(boost::asio::make_work_guard(io_)),
      calls_work_(boost::asio::make_work_guard(calls_)) {
  // If a thread cannot start, those that did are stopped before the error
  // goes on.
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

memcached_client::~memcached_client() {
  stop_threads();
}

void memcached_client::stop_threads() {
  work_.reset();
  if (io_thread_.joinable()) io_thread_.join();
  calls_work_.reset();
  for (auto& t : call_threads_) t.join();
  call_threads_.clear();
}

bool memcached_client::fail_over(const error& why) {
  if (why.origin.empty()) return false;  // not a server's failure
  const auto outcome = pool_->eject(why.origin);
  if (outcome == memcached_pool::ejection::dropped) {
    failed_over_.fetch_add(1, std::memory_order_relaxed);
    std::fprintf(stderr,
                 "memcached: server %s unreachable for %lld ms; failing over "
                 "to the other %zu (sync.on_server_failure = \"failover\"): "
                 "%s\n",
                 why.origin.c_str(),
                 static_cast<long long>(options_.retry_for.count()),
                 pool_->servers(), why.message.c_str());
  }
  // Another operation may have dropped it already: go on with the others.
  return outcome != memcached_pool::ejection::last_one;
}

error memcached_client::give_up(const error& why) {
  std::lock_guard guard(given_up_mutex_);
  if (!given_up_) given_up_ = gave_up(why);
  return *given_up_;
}

std::optional<error> memcached_client::given_up_error() const {
  std::lock_guard guard(given_up_mutex_);
  return given_up_;
}

error memcached_client::gave_up(const error& why) const {
  return make_error(
      errc::unavailable,
      why.message + " (unreachable for " +
          std::to_string(options_.retry_for.count()) +
          " ms, sync.retry_ms; sync.on_server_failure = \"" +
          (options_.on_server_failure == server_failure_policy::failover
               ? "failover\", no other server left)"
               : "fail\")"),
      why.origin);
}

}  // namespace emnist
