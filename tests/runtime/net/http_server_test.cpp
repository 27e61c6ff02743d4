// The HTTP server and client over real loopback sockets: routing to the
// handler, keep-alive, chunked bodies, the body limit, malformed requests,
// replies from other threads, 100 connections at once, several io threads.
#include "runtime/net/http_server.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <vector>

#include "runtime/net/http_client.hpp"
#include "test_support.hpp"

using namespace emnist;
using namespace std::chrono_literals;

namespace {

/// Echoes method, path, query and body size; replies from another thread
/// for /slow.
http_server echo_server(std::size_t max_body = 1024,
                        std::size_t io_threads = 1) {
  http_server_options o;
  o.listen = "127.0.0.1:0";
  o.max_body_bytes = max_body;
  o.read_timeout = 2000ms;
  o.io_threads = io_threads;
  return http_server(o, [](http_request r, http_reply reply) {
    std::string q;
    for (const auto& [k, v] : r.query) q += k + "=" + v + ";";
    http_response resp{
        200,
        "text/plain",
        r.method + " " + r.path + " " + q + " " + std::to_string(r.body.size()),
        {}};
    if (r.path == "/slow") {
      std::thread([reply, resp] {
        std::this_thread::sleep_for(20ms);
        reply(resp);
      }).detach();
      return;
    }
    reply(resp);
  });
}

/// Sends raw bytes on one connection and reads until the peer closes or
/// `responses` responses have arrived (counted by their status lines).
std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                         int responses) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  REQUIRE(::send(fd, bytes.data(), bytes.size(), 0) ==
          static_cast<ssize_t>(bytes.size()));
  std::string in;
  char buf[4096];
  for (;;) {
    int seen = 0;
    for (auto p = in.find("HTTP/1.1 "); p != std::string::npos;
         p = in.find("HTTP/1.1 ", p + 1)) {
      ++seen;
    }
    if (seen >= responses && in.rfind("\r\n\r\n") != std::string::npos) {
      // The last response's body is short here: give it a moment.
      std::this_thread::sleep_for(20ms);
    }
    const ssize_t n =
        ::recv(fd, buf, sizeof buf, seen >= responses ? MSG_DONTWAIT : 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return in;
}

bool has(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("http_server: requests reach the handler, query decoded") {
  auto server = echo_server();
  auto port = server.start();
  REQUIRE_MESSAGE(port.has_value(), test::error_text(port));
  const std::string base = "http://127.0.0.1:" + std::to_string(*port);
  auto r =
      http_request_to("GET", base + "/a%20b?x=1&y=two+words&z=%2F", "", {}, 5s);
  REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
  CHECK(r->status == 200);
  CHECK(r->body == "GET /a b x=1;y=two words;z=/; 0");
  // Every answer is what its Content-Type says, never sniffed into a page.
  CHECK(r->header("x-content-type-options") == "nosniff");
  auto slow = http_request_to("POST", base + "/slow", "12345", {}, 5s);
  REQUIRE(slow.has_value());
  CHECK(slow->body == "POST /slow  5");
}

TEST_CASE("http_server: keep-alive and a chunked body") {
  auto server = echo_server();
  auto port = server.start();
  REQUIRE(port.has_value());
  const std::string two =
      "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"
      "POST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4\r\nabcd\r\n3\r\nefg\r\n0\r\n\r\n";
  const auto out = raw_exchange(*port, two, 2);
  CHECK(has(out, "GET /one  0"));
  CHECK(has(out, "POST /two  7"));  // both chunks, on the same connection
}

TEST_CASE("http_server: a HEAD answer has the length but no body") {
  auto server = echo_server();
  auto port = server.start();
  REQUIRE(port.has_value());
  // HEAD, then GET on the same connection: were the HEAD body sent, the
  // GET's status line would come after it, not right after the header.
  const auto out = raw_exchange(*port,
                                "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n"
                                "GET /g HTTP/1.1\r\nHost: x\r\n\r\n",
                                2);
  const auto first_end = out.find("\r\n\r\n");
  REQUIRE(first_end != std::string::npos);
  const std::string head = out.substr(0, first_end);
  CHECK(has(head, "Content-Length: 10"));  // the handler's "HEAD /h  0"
  CHECK(out.compare(first_end + 4, 9, "HTTP/1.1 ") == 0);
  CHECK_FALSE(has(out, "HEAD /h"));
  CHECK(has(out, "GET /g  0"));
}

TEST_CASE("http_server: the body limit, malformed requests") {
  auto server = echo_server(1000);
  auto port = server.start();
  REQUIRE(port.has_value());
  const std::string base = "http://127.0.0.1:" + std::to_string(*port);
  auto at_limit =
      http_request_to("POST", base + "/", std::string(1000, 'x'), {}, 5s);
  REQUIRE(at_limit.has_value());
  CHECK(at_limit->status == 200);
  auto over =
      http_request_to("POST", base + "/", std::string(1001, 'x'), {}, 5s);
  REQUIRE(over.has_value());
  CHECK(over->status == 413);
  CHECK(has(over->body, "\"field\":\"body\""));
  CHECK(has(over->body, "http.max_body_bytes (1000 bytes)"));

  const auto garbage = raw_exchange(*port, "NOT A REQUEST\r\n\r\n", 1);
  CHECK(has(garbage, "HTTP/1.1 400"));
  CHECK(has(garbage, "\"field\":\"request\""));
  const auto bad_query =
      raw_exchange(*port, "GET /x?a=%zz HTTP/1.1\r\nHost: x\r\n\r\n", 1);
  CHECK(has(bad_query, "HTTP/1.1 400"));
  CHECK(has(bad_query, "\"field\":\"target\""));
  // The server is still fine.
  auto after = http_request_to("GET", base + "/ok", "", {}, 5s);
  REQUIRE(after.has_value());
  CHECK(after->status == 200);
}

TEST_CASE("http_server: 100 concurrent connections") {
  auto server = echo_server();
  auto port = server.start();
  REQUIRE(port.has_value());
  const std::string url = "http://127.0.0.1:" + std::to_string(*port) + "/slow";
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 100; ++i) {
    clients.emplace_back([&] {
      auto r = http_request_to("GET", url, "", {}, 10s);
      if (r && r->status == 200) ++ok;
    });
  }
  for (auto& t : clients) t.join();
  CHECK(ok == 100);
  server.stop(1000ms);
}

TEST_CASE("http_server: io_threads answer connections in parallel") {
  // Each handler call waits (boundedly) until another is inside too: only
  // two io threads serving two connections at once let that happen.
  std::atomic<int> inside{0}, most{0};
  http_server_options o;
  o.listen = "127.0.0.1:0";
  o.io_threads = 4;
  http_server server(o, [&](http_request r, http_reply reply) {
    const int now = ++inside;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    while (most < 2 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    --inside;
    reply({200, "text/plain", r.path, {}});
  });
  auto port = server.start();
  REQUIRE(port.has_value());
  const std::string base = "http://127.0.0.1:" + std::to_string(*port);
  // Then 200 requests from 8 clients at once, each answered with its own
  // path: a connection's read, write and timer stay on its own strand
  // (ThreadSanitizer checks that in `make tsan`).
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      for (int k = 0; k < 25; ++k) {
        const std::string path =
            "/c" + std::to_string(i) + "/" + std::to_string(k);
        auto r = http_request_to("GET", base + path, "", {}, 10s);
        if (r && r->status == 200 && r->body == path) ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(most >= 2);
  CHECK(ok == 8 * 25);
  server.stop(1000ms);
}

TEST_CASE("http_client and server: errors name what failed") {
  auto r = http_request_to("GET", "https://example.org/", "", {}, 1s);
  REQUIRE_FALSE(r.has_value());
  CHECK(has(r.error().message, "only http://"));
  http_server_options o;
  o.listen = "not-an-address:80";
  http_server s(o, [](http_request, http_reply reply) { reply({}); });
  auto started = s.start();
  REQUIRE_FALSE(started.has_value());
  CHECK(has(started.error().message, "http.listen: 'not-an-address:80'"));
}
