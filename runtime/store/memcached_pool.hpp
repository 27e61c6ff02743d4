// The libmemcached side of the memcached store: connections to a server
// list, leased to one blocking call at a time, and the server list itself,
// which can shrink when a server is failed over.
//
//   auto pool = memcached_pool::create(options);
//   {
//     auto c = (*pool)->acquire();                  // one thread at a time
//     auto v = c.get("emnist:j1:b:0");            // blocking
//     if (!v) report(v.error().message);          // names key and server
//   }
//
// Each lease reuses its connection's result and value buffers, so that a
// 256 KiB block does not cost a fresh allocation (and its page faults)
// per call. Thread-safe; the calls on one lease are not.
#pragma once

#include <libmemcached/memcached.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "runtime/store/memcached_options.hpp"
#include "runtime/store/memcached_wire.hpp"

namespace emnist {

class memcached_pool {
 public:
  /// One connection with its reusable buffers.
  struct connection {
    memcached_st* memc = nullptr;
    memcached_result_st result{};
    std::vector<std::byte> value;  ///< encode buffer
    std::vector<std::byte> got;    ///< values read by get_value()
    /// Sockets of the block path, one per server ("host:port") used.
    std::vector<std::unique_ptr<wire_connection>> wires;
    std::uint64_t generation = 0;  ///< of the server list it was made for
    ~connection();
  };

  /// A value read by get(), valid until the next call on the lease.
  struct value_view {
    std::span<const std::byte> bytes;
    std::uint64_t cas = 0;
  };

  class lease {
   public:
    lease(memcached_pool& pool, std::unique_ptr<connection> c)
        : pool_(pool), c_(std::move(c)) {}
    ~lease();
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;

    memcached_st* memc() const { return c_->memc; }
    connection& operator*() const { return *c_; }
    connection* operator->() const { return c_.get(); }

    /// Reads one key with its CAS token. not_found when absent;
    /// unavailable when its server cannot be reached.
    [[nodiscard]] expected<value_view> get(const std::string& key);
    /// The block path, over the connection's own socket to the key's
    /// server (runtime/memcached_wire.hpp) rather than through
    /// libmemcached: the value of `key` with its CAS token (valid until the
    /// next call on the lease), and its compare-and-swap (`cas` 0: a plain
    /// set). Errors as failure() makes them: not_found, aborted on a CAS
    /// conflict, unavailable naming the server.
    /// A value over `max_value` bytes is refused as foreign (data_loss).
    [[nodiscard]] expected<value_view> get_value(const std::string& key,
                                                 std::size_t max_value);
    /// Returns the token of the value now stored.
    [[nodiscard]] expected<std::uint64_t> cas_value(
        const std::string& key, std::span<const std::byte> value,
        std::uint64_t cas);
    /// Where get_value and cas_value on `key` go: the server and the
    /// instance of it that this lease's socket is connected to (it
    /// connects first; 0 when it cannot).
    struct route {
      std::string server;
      std::uint64_t instance = 0;
    };
    [[nodiscard]] route route_of(const std::string& key);
    /// An error for the return code `rc` of a call on `key`, naming the
    /// key and the server: not_found, aborted (a CAS conflict), or
    /// unavailable.
    [[nodiscard]] error failure(memcached_return_t rc,
                                const std::string& key) const;
    /// "host:port" of the server that holds `key`.
    [[nodiscard]] std::string server_of(const std::string& key) const;

   private:
    wire_connection& wire_for(const std::string& key);
    /// An error for a block-path reply that is not a success.
    [[nodiscard]] error wire_failure(const wire_connection& w,
                                     const error& transport,
                                     const std::string& key) const;
    [[nodiscard]] error wire_failure(const wire_connection& w, wire_status s,
                                     const std::string& key) const;

    memcached_pool& pool_;
    std::unique_ptr<connection> c_;
  };

  /// Checks and adds every server; connects lazily.
  [[nodiscard]] static expected<std::unique_ptr<memcached_pool>> create(
      const memcached_options& options);
  ~memcached_pool();

  /// A connection for one blocking call (made on first use).
  [[nodiscard]] lease acquire();

  /// The outcome of failing a server over.
  enum class ejection { dropped, already_gone, last_one };
  /// Drops `server` ("host:port") from the list, unless it is the last one
  /// left: later calls hash its keys onto the others.
  ejection eject(const std::string& server);

  /// The server of the last unavailable error made by lease::failure() on
  /// this thread: read it right after the call that failed.
  static std::string last_failed_server();

  std::size_t servers() const;

 private:
  memcached_pool(std::vector<std::string> servers, memcached_options options);
  [[nodiscard]] expected<void> rebuild();  ///< prototype_ from servers_
  void give_back(std::unique_ptr<connection> c);

  memcached_options options_;
  mutable std::mutex mutex_;
  std::vector<std::string> servers_;  ///< alive: "host:port"
  memcached_st* prototype_ = nullptr;
  std::uint64_t generation_ = 0;
  std::vector<std::unique_ptr<connection>> idle_;
};

}  // namespace emnist
