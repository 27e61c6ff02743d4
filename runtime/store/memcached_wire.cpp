// memcached's binary protocol, the two requests the store's hot path needs.
#include "runtime/store/memcached_wire.hpp"

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
#include <charconv>
#include <cstdio>
#include <cstring>

namespace emnist {
namespace {

constexpr std::uint8_t request_magic = 0x80;
constexpr std::uint8_t response_magic = 0x81;
constexpr std::uint8_t op_get = 0x00;
constexpr std::uint8_t op_set = 0x01;
constexpr std::uint8_t op_stat = 0x10;
constexpr std::uint8_t op_add = 0x02;
constexpr std::uint8_t op_touch = 0x1c;
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
  for (int i = 0; i < n; ++i)
    v = (v << 8) | std::to_integer<std::uint64_t>(p[i]);
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
  std::snprintf(code, sizeof code, "status 0x%04x", static_cast<unsigned>(s));
  const char* what = "unknown";
  switch (s) {
    case wire_status::ok:
      what = "ok";
      break;
    case wire_status::not_found:
      what = "not found";
      break;
    case wire_status::exists:
      what = "exists (changed since read)";
      break;
    case wire_status::too_large:
      what = "value too large";
      break;
    case wire_status::invalid_arguments:
      what = "invalid arguments";
      break;
    case wire_status::not_stored:
      what = "not stored";
      break;
    case wire_status::unknown_command:
      what = "unknown command";
      break;
    case wire_status::out_of_memory:
      what = "out of memory";
      break;
    case wire_status::not_supported:
      what = "not supported";
      break;
    case wire_status::internal_error:
      what = "internal error";
      break;
    case wire_status::busy:
      what = "busy";
      break;
    case wire_status::temporary_failure:
      what = "temporary failure";
      break;
  }
  return std::string(code) + ": " + what;
}

wire_connection::wire_connection(std::string host, std::uint16_t port,
                                 std::chrono::milliseconds timeout)
    : host_(std::move(host)),
      port_(port),
      server_(host_ + ":" + std::to_string(port)),
      timeout_(timeout) {}

wire_connection::~wire_connection() {
  close();
}

void wire_connection::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  instance_ = 0;
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
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
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
        rc = ::poll(&p, 1,
                    static_cast<int>(std::max<std::int64_t>(left.count(), 0)));
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

expected<void> wire_connection::open() {
  if (fd_ >= 0) return {};
  if (auto c = connect(); !c) return c.error();
  return learn_instance();
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

expected<wire_reply> wire_connection::add(std::string_view key,
                                          std::span<const std::byte> value) {
  const std::array<std::byte, 8> extras{};  // flags 0, no expiry
  return round_trip(op_add, key, extras, value, 0, nullptr, 0);
}

expected<wire_reply> wire_connection::touch(std::string_view key) {
  const std::array<std::byte, 4> extras{};  // expiry 0: never, as stored
  return round_trip(op_touch, key, extras, {}, 0, nullptr, 0);
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
  if (auto o = open(); !o) return o.error();
  const std::uint32_t opaque = ++opaque_;
  if (auto s = send_request(opcode, key, extras, value, cas, opaque); !s) {
    return s.error();
  }
  auto h = read_header(opcode, opaque);
  if (!h) return h.error();
  wire_reply r;
  r.status = h->status;
  r.cas = h->cas;
  const bool value_wanted = into != nullptr && r.status == wire_status::ok;
  if (h->body > (value_wanted ? max_body : max_error_body)) {
    return failed("reply of " + std::to_string(h->body) +
                  " bytes is larger than any value (garbled stream)");
  }
  const std::uint32_t prefix =
      value_wanted ? h->key_length + h->extras_length : h->body;
  if (value_wanted && h->body - prefix > max_value) {
    // A value under our key, but not one of ours: refuse it unread (the
    // stream then has to start afresh).
    close();
    return make_error(errc::data_loss,
                      "value of " + std::to_string(h->body - prefix) +
                          " bytes, at most " + std::to_string(max_value) +
                          " expected (a foreign value)");
  }
  scratch_.resize(prefix);
  std::array<iovec, 2> in{{{scratch_.data(), prefix}, {nullptr, 0}}};
  if (value_wanted) {
    // Grown, never shrunk: growing back a shrunk vector zero-fills it.
    const std::size_t length = h->body - prefix;
    if (into->size() < length) into->resize(length);
    in[1] = {into->data(), length};
    r.value = std::span<const std::byte>(into->data(), length);
  }
  if (auto rr = read_exact(in.data(), 2); !rr) return rr.error();
  return r;
}

expected<void> wire_connection::send_request(std::uint8_t opcode,
                                             std::string_view key,
                                             std::span<const std::byte> extras,
                                             std::span<const std::byte> value,
                                             std::uint64_t cas,
                                             std::uint32_t opaque) {
  std::array<std::byte, header_bytes> header{};
  header[0] = std::byte{request_magic};
  header[1] = std::byte{opcode};
  put16(&header[2], static_cast<std::uint16_t>(key.size()));
  header[4] = std::byte(extras.size());
  put32(&header[8],
        static_cast<std::uint32_t>(extras.size() + key.size() + value.size()));
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
  return {};
}

expected<void> wire_connection::read_exact(iovec* v, int count) {
  advance(v, count, 0);
  while (count > 0) {
    const ssize_t n = ::readv(fd_, v, count);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return failed("receive: " + errno_text(errno));
    if (n == 0) return failed("receive: connection closed by the server");
    advance(v, count, static_cast<std::size_t>(n));
  }
  return {};
}

expected<wire_connection::reply_header> wire_connection::read_header(
    std::uint8_t opcode, std::uint32_t opaque) {
  std::array<std::byte, header_bytes> reply{};
  iovec head{reply.data(), reply.size()};
  if (auto r = read_exact(&head, 1); !r) return r.error();
  reply_header h;
  h.body = static_cast<std::uint32_t>(get_be(&reply[8], 4));
  h.key_length = static_cast<std::uint32_t>(get_be(&reply[2], 2));
  h.extras_length = std::to_integer<std::uint32_t>(reply[4]);
  h.status = static_cast<wire_status>(get_be(&reply[6], 2));
  h.cas = get_be(&reply[16], 8);
  if (reply[0] != std::byte{response_magic} || reply[1] != std::byte{opcode} ||
      get_be(&reply[12], 4) != opaque ||
      h.key_length + h.extras_length > h.body) {
    return failed(
        "garbled reply (not a binary-protocol response to this "
        "request)");
  }
  return h;
}

expected<void> wire_connection::learn_instance() {
  // STAT answers one packet per statistic, then one with an empty key.
  const std::uint32_t opaque = ++opaque_;
  if (auto s = send_request(op_stat, {}, {}, {}, 0, opaque); !s) {
    return s.error();
  }
  std::uint64_t pid = 0, time = 0, uptime = 0;
  for (int packets = 0;; ++packets) {
    auto h = read_header(op_stat, opaque);
    if (!h) return h.error();
    if (h->body > max_error_body || packets > 10000) {
      return failed("garbled STAT reply");
    }
    scratch_.resize(h->body);
    iovec body{scratch_.data(), scratch_.size()};
    if (auto r = read_exact(&body, 1); !r) return r.error();
    if (h->status != wire_status::ok) {
      return failed("STAT: " + describe(h->status));
    }
    if (h->key_length == 0) break;
    const auto* text = reinterpret_cast<const char*>(scratch_.data());
    const std::string_view name(text + h->extras_length, h->key_length);
    const std::string_view value(text + h->extras_length + h->key_length,
                                 h->body - h->extras_length - h->key_length);
    std::uint64_t n = 0;
    std::from_chars(value.data(), value.data() + value.size(), n);
    if (name == "pid") pid = n;
    if (name == "time") time = n;
    if (name == "uptime") uptime = n;
  }
  // The process and its start time: a restarted server differs in both,
  // or at least in the second.
  instance_ = (pid << 32) ^ (time - uptime);
  if (instance_ == 0) instance_ = 1;
  return {};
}

}  // namespace emnist
