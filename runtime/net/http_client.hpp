// An HTTP/1.1 client for the few calls the functions make: emnist-setup's
// calls of the train function (held while a replica trains: asynchronous,
// on the caller's io_context), a train function re-invoking itself, and
// the callback of an asynchronous invocation (blocking: call those from a
// worker thread, never from an io thread or an actor).
//
//   auto r = http_request_to("POST",
//       "http://gateway.openfaas:8080/async-function/emnist-train?job=j1",
//       body, {{"Content-Type", "application/json"}},
//       std::chrono::seconds(10));
//   if (!r) log(r.error().message);          // names the URL
//   else if (r->status != 202) log(r->body);
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/expected.hpp"

namespace boost::asio {
class io_context;
}

namespace emnist {

struct http_client_response {
  int status = 0;
  std::string body;
  /// The response's header fields, names in lower case.
  std::vector<std::pair<std::string, std::string>> headers;
  /// The value of the field `lower_case_name`, or empty.
  [[nodiscard]] std::string header(std::string_view lower_case_name) const;
};

/// Sends one request to an "http://host[:port][/path][?query]" URL (no
/// TLS) and reads the whole response, within `timeout` in all.
[[nodiscard]] expected<http_client_response> http_request_to(
    const std::string& method, const std::string& url, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout);

/// The same, without blocking: runs on `io` (whose thread calls `done`,
/// once). The request's strings are copied.
void http_request_async(
    boost::asio::io_context& io, const std::string& method,
    const std::string& url, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout,
    std::function<void(expected<http_client_response>)> done);

}  // namespace emnist
