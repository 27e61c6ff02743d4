// Connections, the server list, failover and error text for the memcached
// store.
#include "runtime/store/memcached_pool.hpp"

#include <algorithm>

#include "runtime/net/address.hpp"

namespace emnist {
namespace {
thread_local std::string failed_server;
}  // namespace

std::string memcached_pool::last_failed_server() {
  return failed_server;
}

memcached_pool::connection::~connection() {
  if (memc != nullptr) {
    memcached_result_free(&result);
    memcached_free(memc);
  }
}

memcached_pool::lease::~lease() {
  pool_.give_back(std::move(c_));
}

expected<memcached_pool::value_view> memcached_pool::lease::get(
    const std::string& key) {
  const char* k = key.data();
  const std::size_t len = key.size();
  memcached_return_t rc = memcached_mget(c_->memc, &k, &len, 1);
  if (rc != MEMCACHED_SUCCESS) return failure(rc, key);
  // The connection's own result struct keeps its buffer between calls.
  memcached_result_st* res = memcached_fetch_result(c_->memc, &c_->result, &rc);
  if (res == nullptr) {
    return failure(rc == MEMCACHED_END ? MEMCACHED_NOTFOUND : rc, key);
  }
  // Drain the end-of-results marker so that the connection is ready again;
  // fetching into nullptr would free our result, so use a scratch one.
  memcached_return_t end_rc = MEMCACHED_SUCCESS;
  while (memcached_result_st* more =
             memcached_fetch_result(c_->memc, nullptr, &end_rc)) {
    memcached_result_free(more);
  }
  return value_view{
      {reinterpret_cast<const std::byte*>(memcached_result_value(res)),
       memcached_result_length(res)},
      memcached_result_cas(res)};
}

wire_connection& memcached_pool::lease::wire_for(const std::string& key) {
  memcached_return_t rc = MEMCACHED_SUCCESS;
  const memcached_instance_st* s =
      memcached_server_by_key(c_->memc, key.data(), key.size(), &rc);
  // The pool always holds a server, so ketama always names one.
  const std::string host = s != nullptr ? memcached_server_name(s) : "?";
  const auto port =
      static_cast<std::uint16_t>(s != nullptr ? memcached_server_port(s) : 0);
  const std::string server = host + ":" + std::to_string(port);
  for (auto& w : c_->wires) {
    if (w->server() == server) return *w;
  }
  c_->wires.push_back(
      std::make_unique<wire_connection>(host, port, pool_.options_.timeout));
  return *c_->wires.back();
}

error memcached_pool::lease::wire_failure(const wire_connection& w,
                                          const error& transport,
                                          const std::string& key) const {
  // Only an unreachable server is one to retry, and to fail over from.
  if (transport.code == errc::unavailable) failed_server = w.server();
  return make_error(transport.code, "memcached server " + w.server() +
                                        ", key '" + key +
                                        "': " + transport.message);
}

error memcached_pool::lease::wire_failure(const wire_connection& w,
                                          wire_status s,
                                          const std::string& key) const {
  if (s == wire_status::not_found) return failure(MEMCACHED_NOTFOUND, key);
  if (s == wire_status::exists) return failure(MEMCACHED_DATA_EXISTS, key);
  if (s == wire_status::too_large) {
    return make_error(errc::invalid_argument,
                      "memcached server " + w.server() + ", key '" + key +
                          "': " + describe(s) +
                          " (lower sync.block_bytes, or raise the server's "
                          "item size limit, memcached -I)");
  }
  const std::string what =
      "memcached server " + w.server() + ", key '" + key + "': " + describe(s);
  // The server cannot take it now: retried, and in the end failed over.
  if (s == wire_status::out_of_memory || s == wire_status::busy ||
      s == wire_status::temporary_failure) {
    failed_server = w.server();
    return make_error(errc::unavailable, what);
  }
  // A request the server does not understand: retrying or failing over
  // to a healthy server would not help.
  return make_error(errc::internal, what);
}

expected<memcached_pool::value_view> memcached_pool::lease::get_value(
    const std::string& key, std::size_t max_value) {
  auto& w = wire_for(key);
  auto r = w.get(key, c_->got, max_value);
  if (!r) return wire_failure(w, r.error(), key);
  if (r->status != wire_status::ok) return wire_failure(w, r->status, key);
  if (r->cas == 0) {
    // A compare-and-swap with token 0 is a plain set: replicas would
    // overwrite each other's updates without a word.
    return make_error(errc::invalid_argument,
                      "memcached server " + w.server() + ", key '" + key +
                          "': no CAS token in the reply (is the server "
                          "running with -C, CAS disabled?)");
  }
  return value_view{r->value, r->cas};
}

expected<std::uint64_t> memcached_pool::lease::cas_value(
    const std::string& key, std::span<const std::byte> value,
    std::uint64_t cas) {
  auto& w = wire_for(key);
  auto r = w.set(key, value, cas);
  if (!r) return wire_failure(w, r.error(), key);
  if (r->status != wire_status::ok) return wire_failure(w, r->status, key);
  return r->cas;
}

memcached_pool::lease::route memcached_pool::lease::route_of(
    const std::string& key) {
  auto& w = wire_for(key);
  // Connected, so that the instance is known; a failure shows in the call
  // that follows.
  (void)w.open();
  return {w.server(), w.instance()};
}

std::string memcached_pool::lease::server_of(const std::string& key) const {
  memcached_return_t rc = MEMCACHED_SUCCESS;
  const memcached_instance_st* s =
      memcached_server_by_key(c_->memc, key.data(), key.size(), &rc);
  if (s == nullptr) return "?";
  return std::string(memcached_server_name(s)) + ":" +
         std::to_string(memcached_server_port(s));
}

error memcached_pool::lease::failure(memcached_return_t rc,
                                     const std::string& key) const {
  if (rc == MEMCACHED_NOTFOUND) {
    return make_error(errc::not_found,
                      "memcached, key '" + key +
                          "': not found (the value is missing: evicted, or "
                          "its server restarted empty)");
  }
  if (rc == MEMCACHED_DATA_EXISTS) {
    return make_error(errc::aborted, "memcached, key '" + key +
                                         "': changed since it was read");
  }
  std::string why = memcached_last_error_message(c_->memc);
  if (why.empty()) why = memcached_strerror(c_->memc, rc);
  failed_server = server_of(key);
  return make_error(errc::unavailable, "memcached server " + failed_server +
                                           ", key '" + key + "': " + why);
}

namespace {

expected<memcached_st*> make_prototype(const std::vector<std::string>& servers,
                                       const memcached_options& o) {
  memcached_st* memc = memcached_create(nullptr);
  if (memc == nullptr) return make_error(errc::internal, "memcached_create");
  for (const auto& s : servers) {
    auto address = parse_server(s);
    if (!address || memcached_server_add(memc, address->host.c_str(),
                                         address->port) != MEMCACHED_SUCCESS) {
      memcached_free(memc);
      return make_error(errc::invalid_argument,
                        "sync.servers: " + (address ? "cannot add '" + s + "'"
                                                    : address.error().message));
    }
  }
  const auto ms = static_cast<std::uint64_t>(o.timeout.count());
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1);
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1);
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_DISTRIBUTION,
                         MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA);
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, ms);
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, ms);
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_RCV_TIMEOUT, ms * 1000);
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_SND_TIMEOUT, ms * 1000);
  // Retry a failed server at once on the next call: the store paces its
  // retries itself, and decides itself when a server is gone for good.
  memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, 0);
  return memc;
}

}  // namespace

memcached_pool::memcached_pool(std::vector<std::string> servers,
                               memcached_options options)
    : options_(std::move(options)), servers_(std::move(servers)) {}

memcached_pool::~memcached_pool() {
  idle_.clear();
  if (prototype_ != nullptr) memcached_free(prototype_);
}

expected<std::unique_ptr<memcached_pool>> memcached_pool::create(
    const memcached_options& options) {
  if (options.servers.empty()) {
    return make_error(errc::invalid_argument, "sync.servers: no server given");
  }
  // Entries as "host:port", the way errors name a server.
  std::vector<std::string> servers;
  for (const auto& s : options.servers) {
    auto a = parse_server(s);
    if (!a)
      return make_error(errc::invalid_argument,
                        "sync.servers: " + a.error().message);
    servers.push_back(a->host + ":" + std::to_string(a->port));
  }
  std::unique_ptr<memcached_pool> pool(
      new memcached_pool(std::move(servers), options));
  if (auto r = pool->rebuild(); !r) return r.error();
  return pool;
}

expected<void> memcached_pool::rebuild() {
  auto memc = make_prototype(servers_, options_);
  if (!memc) return memc.error();
  if (prototype_ != nullptr) memcached_free(prototype_);
  prototype_ = *memc;
  ++generation_;
  return {};
}

memcached_pool::lease memcached_pool::acquire() {
  std::lock_guard guard(mutex_);
  while (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    if (c->generation == generation_) return lease(*this, std::move(c));
  }
  auto c = std::make_unique<connection>();
  c->memc = memcached_clone(nullptr, prototype_);
  memcached_result_create(c->memc, &c->result);
  c->generation = generation_;
  return lease(*this, std::move(c));
}

void memcached_pool::give_back(std::unique_ptr<connection> c) {
  std::lock_guard guard(mutex_);
  // A connection to a server list that has changed since is dropped.
  if (c->generation == generation_) idle_.push_back(std::move(c));
}

memcached_pool::ejection memcached_pool::eject(const std::string& server) {
  std::lock_guard guard(mutex_);
  auto it = std::find(servers_.begin(), servers_.end(), server);
  if (it == servers_.end()) return ejection::already_gone;
  if (servers_.size() <= 1) return ejection::last_one;
  auto previous = servers_;
  servers_.erase(it);
  if (!rebuild()) {
    servers_ = std::move(previous);
    return ejection::last_one;
  }
  idle_.clear();
  return ejection::dropped;
}

std::size_t memcached_pool::servers() const {
  std::lock_guard guard(mutex_);
  return servers_.size();
}

}  // namespace emnist
