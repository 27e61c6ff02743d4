// The one boundary to memcached: connections to a server list, leased to one
// blocking call at a time, and the server list itself, which can shrink when
// a server is failed over. Nothing else in the project includes libmemcached
// or the wire client.
//
//   auto pool = memcached_pool::create(options);
//   {
//     auto c = (*pool)->acquire();                // one thread at a time
//     auto v = c.get("emnist:j1:meta");          // blocking
//     if (!v) report(v.error());                  // names key and server;
//   }                                             // error.origin: "host:port"
//
// Two clients sit behind it. The parameter blocks' gets and cas (the hot
// path of every push) go over runtime/store/memcached_wire.hpp, a socket per
// server that reads a value straight into the lease's buffer; everything
// else goes through libmemcached, which also picks each key's server
// (ketama), so both agree on where a key lives.
//
// Errors say what the caller should do: not_found (the key is missing),
// aborted (a CAS conflict), unavailable (the server could not be reached,
// timed out, or is out of memory or busy: error.origin names it, so that
// retries and failover act on that server and no other), data_loss (a
// value too large to be one of ours), invalid_argument (a request the
// server refuses for good), internal (anything else).
//
// Each lease reuses its connection's buffers, so that a 256 KiB block costs
// no allocation (and no page faults) per call. The pool is thread-safe; the
// calls on one lease are not.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "runtime/store/memcached_options.hpp"

namespace emnist {

class memcached_pool {
 public:
  struct connection;  ///< a libmemcached handle, its sockets and buffers

  /// A value read by get(), valid until the next call on the lease.
  struct value_view {
    std::span<const std::byte> bytes;
    std::uint64_t cas = 0;
  };

  /// Where get_value and cas_value on a key go: its server, and the
  /// instance of it that this lease's socket is connected to (0 when it
  /// cannot connect). A CAS token means something to one instance only.
  struct route {
    std::string server;
    std::uint64_t instance = 0;
  };

  class lease {
   public:
    lease(memcached_pool& pool, std::unique_ptr<connection> c);
    ~lease();
    lease(const lease&) = delete;
    lease& operator=(const lease&) = delete;

    /// A key's value with its CAS token.
    [[nodiscard]] expected<value_view> get(const std::string& key);
    /// The block path: the value of `key` over the lease's own socket to
    /// its server, straight into the lease's buffer; a value over
    /// `max_value` bytes is refused unread (data_loss).
    [[nodiscard]] expected<value_view> get_value(const std::string& key,
                                                 std::size_t max_value);
    /// The block path's compare-and-swap (`cas` 0: a plain set); the token
    /// of the value now stored.
    [[nodiscard]] expected<std::uint64_t> cas_value(
        const std::string& key, std::span<const std::byte> value,
        std::uint64_t cas);
    /// Stores `value` only if `key` is not there (aborted when it is), over
    /// the wire client; the token of the value stored.
    [[nodiscard]] expected<std::uint64_t> add_value(
        const std::string& key, std::span<const std::byte> value);
    /// The block path's freshness check: the CAS token `key` holds now,
    /// without its value (a TOUCH that keeps the value's no-expiry).
    [[nodiscard]] expected<std::uint64_t> token_of(const std::string& key);
    /// Swaps the buffer get_value() reads into with `other` (a cache
    /// keeping the value just read takes it without a copy; the view that
    /// get_value() returned then spans `other`).
    void swap_value_buffer(std::vector<std::byte>& other);
    [[nodiscard]] expected<void> set(const std::string& key,
                                     std::span<const std::byte> value);
    /// Stores unless the key exists: false when it did (nothing written).
    [[nodiscard]] expected<bool> add(const std::string& key,
                                     std::span<const std::byte> value);
    /// Removes the key; one that does not exist is no error.
    [[nodiscard]] expected<void> erase(const std::string& key);
    /// Adds `by` to a decimal count; a missing key is no error (nothing
    /// happens).
    [[nodiscard]] expected<void> increment(const std::string& key,
                                           std::uint64_t by = 1);
    /// Reads `keys` in one round trip per server; `found(index, bytes)` for
    /// each that exists (bytes valid during the call). A server that could
    /// not be reached makes the result unavailable, after the others.
    [[nodiscard]] expected<void> multi_get(
        const std::vector<std::string>& keys,
        const std::function<void(std::size_t, std::span<const std::byte>)>&
            found);

    [[nodiscard]] route route_of(const std::string& key);
    /// "host:port" of the server that holds `key`.
    [[nodiscard]] std::string server_of(const std::string& key) const;

    /// A buffer to encode a value in, kept between calls; see keep().
    std::vector<std::byte>& encode_buffer();
    /// Swaps the encode buffer with `other` (a cache keeping the value it
    /// just wrote takes it without a copy).
    void swap_encode_buffer(std::vector<std::byte>& other);

   private:
    memcached_pool& pool_;
    std::unique_ptr<connection> c_;
  };

  /// Checks every server's address; connects lazily.
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

  std::size_t servers() const;

 private:
  memcached_pool(std::vector<std::string> servers, memcached_options options);
  [[nodiscard]] expected<void> rebuild();  ///< the handle for servers_
  void give_back(std::unique_ptr<connection> c);

  memcached_options options_;
  mutable std::mutex mutex_;
  std::vector<std::string> servers_;  ///< alive: "host:port"
  struct prototype;                   ///< libmemcached's, for cloning
  std::unique_ptr<prototype> prototype_;
  std::uint64_t generation_ = 0;
  std::vector<std::unique_ptr<connection>> idle_;
};

}  // namespace emnist
