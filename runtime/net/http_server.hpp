// A small HTTP/1.1 server on Boost.Beast and Asio C++20 coroutines: one
// coroutine per connection, keep-alive, a timeout before every read, a body
// limit, Content-Length and chunked request bodies. What to answer is up to
// a handler, which may take its time: it answers through a callback, from
// any thread.
//
//   http_server server(options, [](http_request req, http_reply reply) {
//     reply({200, "application/json", R"({"ok":true})"});
//   });
//   auto port = server.start();           // listens, runs its own threads
//   ...
//   server.stop(std::chrono::seconds(5)); // stop accepting, drain, join
//
// Malformed requests (request line, headers, a body over the limit, bad
// percent-encoding in the query) are answered here with a 4xx and a JSON
// error naming what is wrong; the handler never sees them. This header
// stays light: Beast is included only by http_server.cpp.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/expected.hpp"

namespace emnist {

struct http_request {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< as sent: "/status?job=j1"
  std::string path;    ///< decoded, without the query: "/status"
  /// Decoded query parameters, in order.
  std::vector<std::pair<std::string, std::string>> query;
  /// Header fields, names in lower case.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;

  /// The first query value of `name`, or nullptr.
  const std::string* query_value(const std::string& name) const;
  /// The first header named `name` (lower case), or nullptr.
  const std::string* header(const std::string& name) const;
};

struct http_response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// A JSON error response: {"error": message, "field": field}.
[[nodiscard]] http_response json_error(int status, const std::string& message,
                                       const std::string& field);

/// The HTTP status of an error by its code: 400 bad input, 404 not found,
/// 409 a conflict, 503 unavailable, 500 the rest.
[[nodiscard]] inline int http_status_of(const error& e) {
  switch (e.code) {
    case errc::invalid_argument:
      return 400;
    case errc::not_found:
      return 404;
    case errc::aborted:
      return 409;
    case errc::unavailable:
      return 503;
    default:
      return 500;
  }
}

/// Parses one whole request from `raw` as the server parses a connection's
/// bytes (for tests and the fuzzer): the errors are the server's 400 and 413
/// messages.
[[nodiscard]] expected<http_request> parse_http_request(
    std::string_view raw, std::size_t max_body_bytes);

/// Answers a request; may be called from any thread, exactly once.
using http_reply = std::function<void(http_response)>;
/// Called on one of the server's io threads for every well-formed request,
/// from several at once when io_threads > 1. It must not block: long work
/// goes to a thread of its own, which replies.
using http_handler = std::function<void(http_request, http_reply)>;

struct http_server_options {
  std::string listen = "0.0.0.0:8080";  ///< "address:port"; port 0: any
  std::size_t max_body_bytes = 1 << 20;
  std::chrono::milliseconds read_timeout{30000};  ///< a request's arrival
  std::chrono::milliseconds idle_timeout{60000};  ///< keep-alive
  std::size_t io_threads = 1;  ///< threads serving connections (0 as 1)
};

class http_server {
 public:
  http_server(http_server_options options, http_handler handler);
  ~http_server();  ///< stops, as stop() with no wait
  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds and listens, then serves on threads of its own. Returns the
  /// port (useful with port 0). Errors name http.listen.
  [[nodiscard]] expected<std::uint16_t> start();

  /// Stops accepting, waits up to `grace` for the requests under way to
  /// be answered, then closes every connection and joins the threads.
  void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(0));

  /// Requests being handled now (read, not yet answered).
  std::size_t in_flight() const;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace emnist
