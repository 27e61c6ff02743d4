// Connections, the server list, failover and the error text of every
// memcached call: the only file that talks to libmemcached.
#include "runtime/store/memcached_pool.hpp"

#include <libmemcached/memcached.h>

#include <algorithm>

#include "runtime/net/address.hpp"
#include "runtime/store/memcached_wire.hpp"

namespace emnist {

struct memcached_pool::connection {
  memcached_st* memc = nullptr;
  memcached_result_st result{};
  std::vector<std::byte> value;  ///< encode buffer
  std::vector<std::byte> got;    ///< values read by get_value()
  /// Sockets of the block path, one per server ("host:port") used.
  std::vector<std::unique_ptr<wire_connection>> wires;
  std::uint64_t generation = 0;  ///< of the server list it was made for
  ~connection() {
    if (memc != nullptr) {
      memcached_result_free(&result);
      memcached_free(memc);
    }
  }
};

struct memcached_pool::prototype {
  memcached_st* memc = nullptr;
  ~prototype() {
    if (memc != nullptr) memcached_free(memc);
  }
};

namespace {

const char* chars(std::span<const std::byte> v) {
  return reinterpret_cast<const char*>(v.data());
}

std::string server_name(const memcached_instance_st* s) {
  if (s == nullptr) return "?";
  return std::string(memcached_server_name(s)) + ":" +
         std::to_string(memcached_server_port(s));
}

std::string server_of_key(memcached_st* memc, const std::string& key) {
  memcached_return_t rc = MEMCACHED_SUCCESS;
  return server_name(
      memcached_server_by_key(memc, key.data(), key.size(), &rc));
}

/// An error for libmemcached's return code `rc` of a call on `key`.
error failure(memcached_st* memc, memcached_return_t rc,
              const std::string& key) {
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
  std::string why = memcached_last_error_message(memc);
  if (why.empty()) why = memcached_strerror(memc, rc);
  const std::string server = server_of_key(memc, key);
  return make_error(
      errc::unavailable,
      "memcached server " + server + ", key '" + key + "': " + why, server);
}

/// An error for a transport failure of the block path.
error wire_failure(const wire_connection& w, const error& transport,
                   const std::string& key) {
  // Only an unreachable server is one to retry, and to fail over from.
  return make_error(
      transport.code,
      "memcached server " + w.server() + ", key '" + key +
          "': " + transport.message,
      transport.code == errc::unavailable ? w.server() : std::string{});
}

/// An error for a block-path reply that is not a success.
error wire_failure(memcached_st* memc, const wire_connection& w, wire_status s,
                   const std::string& key) {
  if (s == wire_status::not_found) {
    return failure(memc, MEMCACHED_NOTFOUND, key);
  }
  if (s == wire_status::exists) {
    return failure(memc, MEMCACHED_DATA_EXISTS, key);
  }
  const std::string what =
      "memcached server " + w.server() + ", key '" + key + "': " + describe(s);
  if (s == wire_status::too_large) {
    return make_error(errc::invalid_argument,
                      what +
                          " (lower sync.block_bytes, or raise the server's "
                          "item size limit, memcached -I)");
  }
  // The server cannot take it now: retried, and in the end failed over.
  if (s == wire_status::out_of_memory || s == wire_status::busy ||
      s == wire_status::temporary_failure) {
    return make_error(errc::unavailable, what, w.server());
  }
  // A request the server does not understand: retrying or failing over
  // to a healthy server would not help.
  return make_error(errc::internal, what);
}

expected<memcached_st*> make_handle(const std::vector<std::string>& servers,
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

memcached_pool::lease::lease(memcached_pool& pool,
                             std::unique_ptr<connection> c)
    : pool_(pool), c_(std::move(c)) {}

memcached_pool::lease::~lease() {
  pool_.give_back(std::move(c_));
}

std::vector<std::byte>& memcached_pool::lease::encode_buffer() {
  return c_->value;
}

void memcached_pool::lease::swap_encode_buffer(std::vector<std::byte>& other) {
  std::swap(c_->value, other);
}

std::string memcached_pool::lease::server_of(const std::string& key) const {
  return server_of_key(c_->memc, key);
}

expected<memcached_pool::value_view> memcached_pool::lease::get(
    const std::string& key) {
  const char* k = key.data();
  const std::size_t len = key.size();
  memcached_return_t rc = memcached_mget(c_->memc, &k, &len, 1);
  if (rc != MEMCACHED_SUCCESS) return failure(c_->memc, rc, key);
  // The connection's own result struct keeps its buffer between calls.
  memcached_result_st* res = memcached_fetch_result(c_->memc, &c_->result, &rc);
  if (res == nullptr) {
    return failure(c_->memc, rc == MEMCACHED_END ? MEMCACHED_NOTFOUND : rc,
                   key);
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

namespace {

wire_connection& wire_for(memcached_st* memc,
                          std::vector<std::unique_ptr<wire_connection>>& wires,
                          const std::string& key,
                          std::chrono::milliseconds timeout) {
  memcached_return_t rc = MEMCACHED_SUCCESS;
  const memcached_instance_st* s =
      memcached_server_by_key(memc, key.data(), key.size(), &rc);
  // The pool always holds a server, so ketama always names one.
  const std::string host = s != nullptr ? memcached_server_name(s) : "?";
  const auto port =
      static_cast<std::uint16_t>(s != nullptr ? memcached_server_port(s) : 0);
  const std::string server = host + ":" + std::to_string(port);
  for (auto& w : wires) {
    if (w->server() == server) return *w;
  }
  wires.push_back(std::make_unique<wire_connection>(host, port, timeout));
  return *wires.back();
}

}  // namespace

expected<memcached_pool::value_view> memcached_pool::lease::get_value(
    const std::string& key, std::size_t max_value) {
  auto& w = wire_for(c_->memc, c_->wires, key, pool_.options_.timeout);
  auto r = w.get(key, c_->got, max_value);
  if (!r) return wire_failure(w, r.error(), key);
  if (r->status != wire_status::ok) {
    return wire_failure(c_->memc, w, r->status, key);
  }
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
  auto& w = wire_for(c_->memc, c_->wires, key, pool_.options_.timeout);
  auto r = w.set(key, value, cas);
  if (!r) return wire_failure(w, r.error(), key);
  if (r->status != wire_status::ok) {
    return wire_failure(c_->memc, w, r->status, key);
  }
  return r->cas;
}

expected<std::uint64_t> memcached_pool::lease::add_value(
    const std::string& key, std::span<const std::byte> value) {
  auto& w = wire_for(c_->memc, c_->wires, key, pool_.options_.timeout);
  auto r = w.add(key, value);
  if (!r) return wire_failure(w, r.error(), key);
  // A key that is there: "exists" (or "not stored" from older servers).
  if (r->status == wire_status::not_stored) {
    return wire_failure(c_->memc, w, wire_status::exists, key);
  }
  if (r->status != wire_status::ok) {
    return wire_failure(c_->memc, w, r->status, key);
  }
  return r->cas;
}

expected<std::uint64_t> memcached_pool::lease::token_of(
    const std::string& key) {
  auto& w = wire_for(c_->memc, c_->wires, key, pool_.options_.timeout);
  auto r = w.touch(key);
  if (!r) return wire_failure(w, r.error(), key);
  if (r->status != wire_status::ok) {
    return wire_failure(c_->memc, w, r->status, key);
  }
  return r->cas;
}

void memcached_pool::lease::swap_value_buffer(std::vector<std::byte>& other) {
  c_->got.swap(other);
}

memcached_pool::route memcached_pool::lease::route_of(const std::string& key) {
  auto& w = wire_for(c_->memc, c_->wires, key, pool_.options_.timeout);
  // Connected, so that the instance is known; a failure shows in the call
  // that follows.
  (void)w.open();
  return {w.server(), w.instance()};
}

expected<void> memcached_pool::lease::set(const std::string& key,
                                          std::span<const std::byte> value) {
  const auto rc = memcached_set(c_->memc, key.data(), key.size(), chars(value),
                                value.size(), 0, 0);
  if (rc != MEMCACHED_SUCCESS) return failure(c_->memc, rc, key);
  return {};
}

expected<bool> memcached_pool::lease::add(const std::string& key,
                                          std::span<const std::byte> value) {
  const auto rc = memcached_add(c_->memc, key.data(), key.size(), chars(value),
                                value.size(), 0, 0);
  if (rc == MEMCACHED_SUCCESS) return true;
  if (rc == MEMCACHED_NOTSTORED || rc == MEMCACHED_DATA_EXISTS) return false;
  return failure(c_->memc, rc, key);
}

expected<void> memcached_pool::lease::erase(const std::string& key) {
  const auto rc = memcached_delete(c_->memc, key.data(), key.size(), 0);
  if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_NOTFOUND) {
    return failure(c_->memc, rc, key);
  }
  return {};
}

expected<void> memcached_pool::lease::increment(const std::string& key,
                                                std::uint64_t by) {
  std::uint64_t value = 0;
  const auto rc = memcached_increment(c_->memc, key.data(), key.size(),
                                      static_cast<std::uint32_t>(by), &value);
  if (rc == MEMCACHED_SUCCESS || rc == MEMCACHED_NOTFOUND) return {};
  return failure(c_->memc, rc, key);
}

expected<void> memcached_pool::lease::multi_get(
    const std::vector<std::string>& keys,
    const std::function<void(std::size_t, std::span<const std::byte>)>& found) {
  if (keys.empty()) return {};
  std::vector<const char*> k;
  std::vector<std::size_t> lengths;
  for (const auto& key : keys) {
    k.push_back(key.data());
    lengths.push_back(key.size());
  }
  memcached_return_t rc =
      memcached_mget(c_->memc, k.data(), lengths.data(), k.size());
  if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_SOME_ERRORS) {
    return failure(c_->memc, rc, keys[0]);
  }
  bool server_failed = rc == MEMCACHED_SOME_ERRORS;
  std::vector<bool> seen(keys.size(), false);
  while (memcached_result_st* res =
             memcached_fetch_result(c_->memc, &c_->result, &rc)) {
    const std::string_view key(memcached_result_key_value(res),
                               memcached_result_key_length(res));
    const auto it = std::find(keys.begin(), keys.end(), key);
    if (it == keys.end()) continue;
    const auto i = static_cast<std::size_t>(it - keys.begin());
    seen[i] = true;
    found(i, {reinterpret_cast<const std::byte*>(memcached_result_value(res)),
              memcached_result_length(res)});
  }
  if (rc != MEMCACHED_END && rc != MEMCACHED_SUCCESS &&
      rc != MEMCACHED_NOTFOUND) {
    server_failed = true;
  }
  if (!server_failed) return {};
  // A key not returned may be on the server that failed: name it.
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!seen[i]) {
      return failure(c_->memc, MEMCACHED_CONNECTION_FAILURE, keys[i]);
    }
  }
  return failure(c_->memc, MEMCACHED_CONNECTION_FAILURE, keys[0]);
}

memcached_pool::memcached_pool(std::vector<std::string> servers,
                               memcached_options options)
    : options_(std::move(options)), servers_(std::move(servers)) {}

memcached_pool::~memcached_pool() {
  idle_.clear();
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
    if (!a) {
      return make_error(errc::invalid_argument,
                        "sync.servers: " + a.error().message);
    }
    servers.push_back(a->text());
  }
  std::unique_ptr<memcached_pool> pool(
      new memcached_pool(std::move(servers), options));
  if (auto r = pool->rebuild(); !r) return r.error();
  return pool;
}

expected<void> memcached_pool::rebuild() {
  auto memc = make_handle(servers_, options_);
  if (!memc) return memc.error();
  auto p = std::make_unique<prototype>();
  p->memc = *memc;
  prototype_ = std::move(p);
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
  c->memc = memcached_clone(nullptr, prototype_->memc);
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
