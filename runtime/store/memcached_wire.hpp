// Large values over memcached's binary protocol on a plain blocking socket:
// the get and the compare-and-swap of a parameter block, the hot path of
// every push.
//
//   wire_connection w("127.0.0.1", 11211, std::chrono::milliseconds(1000));
//   std::vector<std::byte> buffer;
//   auto r = w.get("emnist:j1:b:0", buffer, max);  // value lands in buffer
//   if (!r) return r.error();                      // transport: unavailable
//   if (r->status == wire_status::ok) {
//     auto s = w.set("emnist:j1:b:0", new_value, r->cas);  // cas 0: plain set
//   }
//
// Why not libmemcached here: it moves a value through an 8 KiB buffer, one
// send or recv per 8 KiB (about 80 system calls and two extra copies for
// the 333 KB model), which measured twice the client CPU of reading
// straight into the caller's buffer and writing with one writev (156 us
// against 83 us for a 256 KiB gets+cas on loopback). libmemcached still
// picks the server of every key (ketama) and carries everything else.
//
// One request at a time per connection; not thread-safe. Errors are
// transport errors, unavailable (connect, timeout, a closed or garbled
// stream: the connection then closes and reconnects on the next call), a
// value larger than the caller expects (data_loss) or a key memcached
// cannot take (invalid_argument); a server's answer, including "not found"
// or "exists", is a status. The timeout bounds each wait for the server,
// not a whole reply: a server that trickles bytes can take longer. Host
// names are resolved at each (re)connect.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"

struct iovec;

namespace emnist {

/// Response status of the binary protocol (the values on the wire).
enum class wire_status : std::uint16_t {
  ok = 0x0000,
  not_found = 0x0001,
  exists = 0x0002,  ///< the CAS token did not match
  too_large = 0x0003,
  invalid_arguments = 0x0004,
  not_stored = 0x0005,
  unknown_command = 0x0081,
  out_of_memory = 0x0082,
  not_supported = 0x0083,
  internal_error = 0x0084,
  busy = 0x0085,
  temporary_failure = 0x0086,
};

/// Text for a status, for error messages ("status 0x0082: out of memory").
[[nodiscard]] std::string describe(wire_status s);

struct wire_reply {
  wire_status status = wire_status::ok;
  std::uint64_t cas = 0;
  std::span<const std::byte> value;  ///< get: into the caller's buffer
};

class wire_connection {
 public:
  wire_connection(std::string host, std::uint16_t port,
                  std::chrono::milliseconds timeout);
  ~wire_connection();
  wire_connection(const wire_connection&) = delete;
  wire_connection& operator=(const wire_connection&) = delete;

  /// GET: the value into the front of `buffer` (grown to fit, never
  /// shrunk); the reply's value spans it. A value over `max_value` bytes
  /// is refused unread (data_loss): it cannot be one of ours, and a
  /// buffer never shrinks.
  [[nodiscard]] expected<wire_reply> get(std::string_view key,
                                         std::vector<std::byte>& buffer,
                                         std::size_t max_value);
  /// SET, conditional on `cas` unless it is 0; flags and expiry 0. The
  /// reply's cas is the token of the value now stored.
  [[nodiscard]] expected<wire_reply> set(std::string_view key,
                                         std::span<const std::byte> value,
                                         std::uint64_t cas);

  /// ADD (flags and expiry 0): stores only if the key is not there
  /// (status exists then). The reply's cas is the token of the value.
  [[nodiscard]] expected<wire_reply> add(std::string_view key,
                                         std::span<const std::byte> value);

  /// TOUCH with no expiry (as every value of ours is stored): the CAS
  /// token of the value the key holds now, without the value. A block
  /// whose token is the one a process last wrote or read is unchanged.
  [[nodiscard]] expected<wire_reply> touch(std::string_view key);

  /// "host:port", as errors name the server.
  [[nodiscard]] const std::string& server() const { return server_; }

  /// The server process this socket is connected to (from its pid and
  /// start time, asked at each connect); 0 while not connected. A CAS
  /// token is only meaningful within one instance: a restarted server
  /// hands out the same tokens again.
  [[nodiscard]] std::uint64_t instance() const { return instance_; }

  /// Connects unless connected; get and set do it themselves.
  [[nodiscard]] expected<void> open();

 private:
  struct reply_header {
    wire_status status = wire_status::ok;
    std::uint64_t cas = 0;
    std::uint32_t body = 0;
    std::uint32_t key_length = 0;
    std::uint32_t extras_length = 0;
  };

  [[nodiscard]] expected<void> connect();
  [[nodiscard]] expected<void> learn_instance();
  void close();
  [[nodiscard]] expected<void> send_request(std::uint8_t opcode,
                                            std::string_view key,
                                            std::span<const std::byte> extras,
                                            std::span<const std::byte> value,
                                            std::uint64_t cas,
                                            std::uint32_t opaque);
  [[nodiscard]] expected<reply_header> read_header(std::uint8_t opcode,
                                                   std::uint32_t opaque);
  /// Reads exactly the bytes the iovecs describe.
  [[nodiscard]] expected<void> read_exact(iovec* v, int count);
  /// Sends the request and reads the response to `opcode`; the value, if
  /// any, into `into`.
  [[nodiscard]] expected<wire_reply> round_trip(
      std::uint8_t opcode, std::string_view key,
      std::span<const std::byte> extras, std::span<const std::byte> value,
      std::uint64_t cas, std::vector<std::byte>* into, std::size_t max_value);
  [[nodiscard]] error failed(const std::string& what);

  std::string host_;
  std::uint16_t port_;
  std::string server_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::uint64_t instance_ = 0;
  std::uint32_t opaque_ = 0;
  std::vector<std::byte> scratch_;  ///< extras and error text of replies
};

}  // namespace emnist
