// The block path's binary-protocol client against a real memcached, and
// against loopback sockets that misbehave: a garbled reply, silence, a
// refused connection.
#include "runtime/store/memcached_wire.hpp"

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "support/memcached_server.hpp"
#include "support/ports.hpp"

using namespace emnist;
using namespace std::chrono_literals;

namespace {

std::vector<std::byte> bytes_of(std::size_t n, unsigned seed) {
  std::vector<std::byte> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::byte((i * 31 + seed) & 0xff);
  return v;
}

constexpr std::size_t limit = 1 << 20;

bool contains(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

/// A loopback listener that accepts one connection and answers each
/// binary-protocol request: STAT (which a connection asks first) with its
/// end packet, anything else with `reply` (its opaque set to the
/// request's when it looks like a response), or not at all when `reply`
/// is empty.
class fake_server {
 public:
  explicit fake_server(std::vector<unsigned char> reply)
      : reply_(std::move(reply)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    const int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    REQUIRE(::listen(fd_, 4) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~fake_server() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  static bool read_n(int c, unsigned char* p, std::size_t n) {
    while (n > 0) {
      const ssize_t got = ::recv(c, p, n, 0);
      if (got <= 0) return false;
      p += got;
      n -= static_cast<std::size_t>(got);
    }
    return true;
  }
  void serve() {
    const int c = ::accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    std::vector<unsigned char> body;
    unsigned char h[24];
    while (!stop_ && read_n(c, h, 24)) {
      body.resize((std::size_t{h[8]} << 24) | (h[9] << 16) | (h[10] << 8) |
                  h[11]);
      if (!read_n(c, body.data(), body.size())) break;
      std::vector<unsigned char> out;
      if (h[1] == 0x10) {  // STAT: just the end packet
        out.assign(24, 0);
        out[0] = 0x81;
        out[1] = 0x10;
      } else {
        out = reply_;
      }
      if (out.size() >= 24 && out[0] == 0x81) std::memcpy(&out[12], &h[12], 4);
      if (!out.empty()) ::send(c, out.data(), out.size(), MSG_NOSIGNAL);
    }
    ::close(c);
  }
  std::vector<unsigned char> reply_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace

TEST_CASE("memcached_wire: get, set and compare-and-swap on a real server") {
  test::memcached_server server;
  wire_connection w("127.0.0.1", server.port(), 1000ms);
  CHECK(w.server() == server.address());
  std::vector<std::byte> buffer;

  auto missing = w.get("wire:a", buffer, limit);
  REQUIRE(missing.has_value());
  CHECK(missing->status == wire_status::not_found);

  // A value of a whole default block, so that it arrives in many segments.
  const auto first = bytes_of(262192, 1);
  auto stored = w.set("wire:a", first, 0);
  REQUIRE(stored.has_value());
  CHECK(stored->status == wire_status::ok);

  auto got = w.get("wire:a", buffer, limit);
  REQUIRE(got.has_value());
  REQUIRE(got->status == wire_status::ok);
  CHECK(got->cas != 0);
  CHECK(got->cas == stored->cas);  // a set answers the token it stored
  CHECK(w.instance() != 0);
  REQUIRE(got->value.size() == first.size());
  CHECK(std::memcmp(got->value.data(), first.data(), first.size()) == 0);
  const std::uint64_t token = got->cas;

  // A shorter value reuses the buffer without shrinking it, and the reply
  // spans exactly the value.
  const auto small = bytes_of(100, 2);
  REQUIRE(w.set("wire:b", small, 0).has_value());
  auto got_small = w.get("wire:b", buffer, limit);
  REQUIRE(got_small.has_value());
  CHECK(got_small->value.size() == 100);
  CHECK(buffer.size() >= first.size());
  CHECK(std::memcmp(got_small->value.data(), small.data(), 100) == 0);

  // The token read above is current: the swap is applied; a second swap
  // with the same (now stale) token is refused, and the value stays.
  const auto second = bytes_of(262192, 3);
  auto swapped = w.set("wire:a", second, token);
  REQUIRE(swapped.has_value());
  CHECK(swapped->status == wire_status::ok);
  auto stale = w.set("wire:a", first, token);
  REQUIRE(stale.has_value());
  CHECK(stale->status == wire_status::exists);
  auto now = w.get("wire:a", buffer, limit);
  REQUIRE(now.has_value());
  CHECK(std::memcmp(now->value.data(), second.data(), second.size()) == 0);

  // A swap of a key that is gone answers not found.
  auto gone = w.set("wire:none", small, token);
  REQUIRE(gone.has_value());
  CHECK(gone->status == wire_status::not_found);

  // A value over memcached's 1 MB item limit is refused with a status, and
  // the connection stays usable.
  auto huge = w.set("wire:huge", bytes_of(2 << 20, 4), 0);
  REQUIRE(huge.has_value());
  CHECK(huge->status == wire_status::too_large);
  CHECK(contains(describe(huge->status), "value too large"));
  auto after = w.get("wire:b", buffer, limit);
  REQUIRE(after.has_value());
  CHECK(after->status == wire_status::ok);

  // A value larger than the caller expects is refused unread, and the
  // next call starts on a fresh stream.
  const auto capacity = buffer.size();
  auto foreign = w.get("wire:a", buffer, 1000);
  REQUIRE_FALSE(foreign.has_value());
  CHECK(foreign.error().code == errc::data_loss);
  CHECK(contains(foreign.error().message, "262192 bytes, at most 1000"));
  CHECK(buffer.size() == capacity);
  auto again = w.get("wire:b", buffer, limit);
  REQUIRE(again.has_value());
  CHECK(again->value.size() == 100);

  // Keys memcached cannot take never reach it.
  auto long_key = w.get(std::string(251, 'k'), buffer, limit);
  REQUIRE_FALSE(long_key.has_value());
  CHECK(long_key.error().code == errc::invalid_argument);
  CHECK(contains(long_key.error().message, "1 to 250"));
}

TEST_CASE("memcached_wire: a restarted server is reconnected to") {
  test::memcached_server server;
  wire_connection w("127.0.0.1", server.port(), 500ms);
  std::vector<std::byte> buffer;
  REQUIRE(w.set("wire:r", bytes_of(10, 5), 0).has_value());
  const auto before = w.instance();
  CHECK(before != 0);
  server.stop();
  auto down = w.get("wire:r", buffer, limit);
  REQUIRE_FALSE(down.has_value());
  CHECK(down.error().code == errc::unavailable);
  server.start();
  auto back = w.get("wire:r", buffer, limit);
  REQUIRE(back.has_value());
  CHECK(back->status == wire_status::not_found);  // restarted empty
  // Another process: tokens of the old one mean nothing here.
  CHECK(w.instance() != 0);
  CHECK(w.instance() != before);
}

TEST_CASE("memcached_wire: bad servers give clear errors, never a hang") {
  std::vector<std::byte> buffer;
  SUBCASE("nothing listens") {
    wire_connection w("127.0.0.1", test::free_port(), 500ms);
    auto r = w.get("k", buffer, limit);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::unavailable);
    CHECK(contains(r.error().message, "connect"));
  }
  SUBCASE("an unknown host") {
    wire_connection w("no-such-host.invalid", 11211, 500ms);
    auto r = w.get("k", buffer, limit);
    REQUIRE_FALSE(r.has_value());
    CHECK(contains(r.error().message, "cannot resolve host"));
  }
  SUBCASE("a reply that is not the binary protocol") {
    const std::string text = "ERROR unknown command\r\nERROR again and again";
    fake_server fake(std::vector<unsigned char>(text.begin(), text.end()));
    wire_connection w("127.0.0.1", fake.port(), 500ms);
    auto r = w.get("k", buffer, limit);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::unavailable);
    CHECK(contains(r.error().message, "garbled reply"));
  }
  SUBCASE("a reply announcing a body larger than any value") {
    std::vector<unsigned char> reply(24, 0);
    reply[0] = 0x81;  // response to GET, status ok
    reply[8] = 0x7f;  // body length 0x7f000000
    fake_server fake(reply);
    wire_connection w("127.0.0.1", fake.port(), 500ms);
    auto r = w.get("k", buffer, limit);
    REQUIRE_FALSE(r.has_value());
    CHECK(contains(r.error().message, "larger than any value"));
    CHECK(buffer.size() < (1u << 20));  // nothing was allocated for it
  }
  SUBCASE("a server that never answers") {
    fake_server fake({});
    wire_connection w("127.0.0.1", fake.port(), 200ms);
    const auto start = std::chrono::steady_clock::now();
    auto r = w.get("k", buffer, limit);
    REQUIRE_FALSE(r.has_value());
    CHECK(contains(r.error().message, "timed out"));
    CHECK(std::chrono::steady_clock::now() - start < 5s);
  }
}
