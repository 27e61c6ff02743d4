// memcached's binary protocol, the two requests the store's hot path needs.
#include "runtime/memcached_wire.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace emnist {
namespace {

constexpr std::uint8_t request_magic = 0x80;
constexpr std::uint8_t response_magic = 0x81;
constexpr std::uint8_t op_get = 0x00;
constexpr std::uint8_t op_set = 0x01;
constexpr std::size_t header_bytes = 24;
/// The largest value accepted in a reply: memcached's item limit can be
/// raised to 1 GiB (-I), and a garbled length must not allocate more.
constexpr std::uint32_t max_body = 1u << 30;
/// An error reply's text is short; more is a garbled stream.
constexpr std::uint32_t max_error_body = 1u << 16;
constexpr std::size_t max_key = 250;  // memcached's limit

void put16(std::byte* p, std::uint16_t v) {
  p[0] = std::byte(v >> 8);
  p[1] = std::byte(v & 0xff);
}
void put32(std::byte* p, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = std::byte((v >> (24 - 8 * i)) & 0xff);
}
void put64(std::byte* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = std::byte((v >> (56 - 8 * i)) & 0xff);
}
std::uint64_t get_be(const std::byte* p, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
  return v;
}

/// Drops the first `n` bytes of an iovec list (after a partial transfer).
void advance(iovec*& iov, int& count, std::size_t n) {
  while (count > 0 && n >= iov->iov_len) {
    n -= iov->iov_len;
    ++iov;
    --count;
  }
  if (count > 0) {
    iov->iov_base = static_cast<char*>(iov->iov_base) + n;
    iov->iov_len -= n;
  }
}

std::string errno_text(int e) {
  if (e == EAGAIN || e == EWOULDBLOCK) return "timed out";
  return std::strerror(e);
}

}  // namespace

std::string describe(wire_status s) {
  char code[16];
  std::snprintf(code, sizeof code, "status 0x%04x",
                static_cast<unsigned>(s));
  const char* what = "unknown";
  switch (s) {
    case wire_status::ok: what = "ok"; break;
    case wire_status::not_found: what = "not found"; break;
    case wire_status::exists: what = "exists (changed since read)"; break;
    case wire_status::too_large: what = "value too large"; break;
    case wire_status::invalid_arguments: what = "invalid arguments"; break;
    case wire_status::not_stored: what = "not stored"; break;
    case wire_status::unknown_command: what = "unknown command"; break;
    case wire_status::out_of_memory: what = "out of memory"; break;
    case wire_status::not_supported: what = "not supported"; break;
    case wire_status::internal_error: what = "internal error"; break;
    case wire_status::busy: what = "busy"; break;
    case wire_status::temporary_failure: what = "temporary failure"; break;
  }
  return std::string(code) + ": " + what;
}

wire_connection::wire_connection(std::string host, std::uint16_t port,
                                 std::chrono::milliseconds timeout)
    : host_(std::move(host)),
      port_(port),
      server_(host_ + ":" + std::to_string(port)),
      timeout_(timeout) {}

wire_connection::~wire_connection() { close(); }

void wire_connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

error wire_connection::failed(const std::string& what) {
  close();  // the stream's state is unknown: start afresh next time
  return make_error(errc::unavailable, what);
}

expected<void> wire_connection::connect() {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(port_);
  if (int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return make_error(errc::unavailable,
                      std::string("cannot resolve host: ") + gai_strerror(rc));
  }
  std::string why = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC,
                            a->ai_protocol);
    if (fd < 0) {
      why = errno_text(errno);
      continue;
    }
    // Non-blocking connect, so that the timeout bounds it.
    const int flags = ::fcntl(fd, F_GETFL);
    ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      const auto deadline = std::chrono::steady_clock::now() + timeout_;
      pollfd p{fd, POLLOUT, 0};
      for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        rc = ::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(
                               left.count(), 0)));
        if (rc >= 0 || errno != EINTR) break;
      }
      if (rc <= 0) {
        why = rc == 0 ? "connect timed out" : "connect: " + errno_text(errno);
        ::close(fd);
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc != 0) {
      why = "connect: " + errno_text(errno);
      ::close(fd);
      continue;
    }
    ::fcntl(fd, F_SETFL, flags);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    fd_ = fd;
    ::freeaddrinfo(found);
    return {};
  }
  ::freeaddrinfo(found);
  return make_error(errc::unavailable, why);
}

expected<wire_reply> wire_connection::get(std::string_view key,
                                          std::vector<std::byte>& buffer,
                                          std::size_t max_value) {
  return round_trip(op_get, key, {}, {}, 0, &buffer, max_value);
}

expected<wire_reply> wire_connection::set(std::string_view key,
                                          std::span<const std::byte> value,
                                          std::uint64_t cas) {
  const std::array<std::byte, 8> extras{};  // flags 0, no expiry
  return round_trip(op_set, key, extras, value, cas, nullptr, 0);
}

expected<wire_reply> wire_connection::round_trip(
    std::uint8_t opcode, std::string_view key,
    std::span<const std::byte> extras, std::span<const std::byte> value,
    std::uint64_t cas, std::vector<std::byte>* into, std::size_t max_value) {
  if (key.empty() || key.size() > max_key) {
    return make_error(errc::invalid_argument,
                      "key of " + std::to_string(key.size()) +
                          " bytes: memcached keys have 1 to 250");
  }
  if (fd_ < 0) {
    if (auto c = connect(); !c) return c.error();
  }
  const std::uint32_t opaque = ++opaque_;
  std::array<std::byte, header_bytes> header{};
  header[0] = std::byte{request_magic};
  header[1] = std::byte{opcode};
  put16(&header[2], static_cast<std::uint16_t>(key.size()));
  header[4] = std::byte(extras.size());
  put32(&header[8], static_cast<std::uint32_t>(extras.size() + key.size() +
                                               value.size()));
  put32(&header[12], opaque);
  put64(&header[16], cas);

  std::array<iovec, 4> out{{
      {header.data(), header.size()},
      {const_cast<std::byte*>(extras.data()), extras.size()},
      {const_cast<char*>(key.data()), key.size()},
      {const_cast<std::byte*>(value.data()), value.size()},
  }};
  iovec* iov = out.data();
  int count = static_cast<int>(out.size());
  advance(iov, count, 0);
  while (count > 0) {
    msghdr m{};
    m.msg_iov = iov;
    m.msg_iovlen = static_cast<std::size_t>(count);
    const ssize_t n = ::sendmsg(fd_, &m, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed("send: " + errno_text(errno));
    if (n == 0) return failed("send: the connection accepts no data");
    advance(iov, count, static_cast<std::size_t>(n));
  }

  // Reads exactly the bytes the iovecs describe.
  auto read_all = [&](iovec* v, int c) -> expected<void> {
    advance(v, c, 0);
    while (c > 0) {
      const ssize_t n = ::readv(fd_, v, c);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return failed("receive: " + errno_text(errno));
      if (n == 0) return failed("receive: connection closed by the server");
      advance(v, c, static_cast<std::size_t>(n));
    }
    return {};
  };

  std::array<std::byte, header_bytes> reply{};
  iovec head{reply.data(), reply.size()};
  if (auto r = read_all(&head, 1); !r) return r.error();
  const auto body = static_cast<std::uint32_t>(get_be(&reply[8], 4));
  const auto key_length = static_cast<std::uint32_t>(get_be(&reply[2], 2));
  const auto extras_length = std::to_integer<std::uint32_t>(reply[4]);
  if (reply[0] != std::byte{response_magic} || reply[1] != std::byte{opcode} ||
      get_be(&reply[12], 4) != opaque || key_length + extras_length > body) {
    return failed("garbled reply (not a binary-protocol response to this "
                  "request)");
  }
  wire_reply r;
  r.status = static_cast<wire_status>(get_be(&reply[6], 2));
  r.cas = get_be(&reply[16], 8);
  const bool value_wanted = into != nullptr && r.status == wire_status::ok;
  if (body > (value_wanted ? max_body : max_error_body)) {
    return failed("reply of " + std::to_string(body) +
                  " bytes is larger than any value (garbled stream)");
  }
  if (value_wanted && body - key_length - extras_length > max_value) {
    // A value under our key, but not one of ours: refuse it unread (the
    // stream then has to start afresh).
    close();
    return make_error(errc::data_loss,
                      "value of " +
                          std::to_string(body - key_length - extras_length) +
                          " bytes, at most " + std::to_string(max_value) +
                          " expected (a foreign value)");
  }
  const std::uint32_t prefix = value_wanted ? key_length + extras_length : body;
  scratch_.resize(prefix);
  std::array<iovec, 2> in{{{scratch_.data(), prefix}, {nullptr, 0}}};
  if (value_wanted) {
    // Grown, never shrunk: growing back a shrunk vector zero-fills it.
    const std::size_t length = body - prefix;
    if (into->size() < length) into->resize(length);
    in[1] = {into->data(), length};
    r.value = std::span<const std::byte>(into->data(), length);
  }
  if (auto rr = read_all(in.data(), 2); !rr) return rr.error();
  return r;
}

}  // namespace emnist
