// The blocking client: one coroutine on an io_context of the call's own,
// so that one deadline covers resolve, connect, write and read.
#include "runtime/net/http_client.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <memory>
#include <optional>
#include <utility>

namespace emnist {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct parsed_url {
  std::string host;
  std::string port = "80";
  std::string target = "/";
};

expected<parsed_url> parse_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    return make_error(errc::invalid_argument,
                      "'" + url + "': only http:// URLs are supported");
  }
  parsed_url u;
  const auto rest = url.substr(scheme.size());
  const auto slash = rest.find_first_of("/?");
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    u.target = rest.substr(slash);
    if (u.target.front() == '?') u.target = "/" + u.target;
  }
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos &&
      authority.find(']', colon) == std::string::npos) {
    u.port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
  }
  if (authority.size() >= 2 && authority.front() == '[') {
    authority = authority.substr(1, authority.size() - 2);
  }
  if (authority.empty() || u.port.empty()) {
    return make_error(errc::invalid_argument, "'" + url + "': no host");
  }
  u.host = authority;
  return u;
}

}  // namespace

std::string http_client_response::header(
    std::string_view lower_case_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_case_name) return value;
  }
  return {};
}

namespace {

/// One request on `io`, within `timeout` in all.
asio::awaitable<expected<http_client_response>> exchange(
    asio::io_context& io, std::string method, std::string url, std::string body,
    std::vector<std::pair<std::string, std::string>> headers,
    std::chrono::milliseconds timeout) {
  using asio::as_tuple;
  using asio::use_awaitable;
  auto u = parse_url(url);
  if (!u) co_return u.error();
  auto fail = [&](const std::string& what,
                  const boost::system::error_code& ec) {
    return make_error(errc::unavailable,
                      method + " " + url + ": " + what + ": " + ec.message());
  };
  tcp::resolver resolver(io);
  beast::tcp_stream stream(io);
  stream.expires_after(timeout);
  auto [rec, endpoints] = co_await resolver.async_resolve(
      u->host, u->port, as_tuple(use_awaitable));
  if (rec) co_return fail("resolving " + u->host, rec);
  auto [cec, ep] =
      co_await stream.async_connect(endpoints, as_tuple(use_awaitable));
  if (cec) co_return fail("connecting", cec);
  http::request<http::string_body> req{http::string_to_verb(method), u->target,
                                       11};
  req.set(http::field::host, u->host + ":" + u->port);
  req.set(http::field::user_agent, "emnist");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body() = body;
  req.prepare_payload();
  auto [wec, wn] =
      co_await http::async_write(stream, req, as_tuple(use_awaitable));
  if (wec) co_return fail("sending", wec);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  auto [ec, n] =
      co_await http::async_read(stream, buffer, res, as_tuple(use_awaitable));
  if (ec) co_return fail("reading the response", ec);
  http_client_response answer{
      static_cast<int>(res.result_int()), std::move(res.body()), {}};
  for (const auto& field : res) {
    std::string name(field.name_string());
    for (auto& c : name) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    answer.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  boost::system::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return answer;
}

/// exchange(), then `once` with its result. (The arguments are the
/// coroutine's own copies: a lambda's captures would die with it.)
asio::awaitable<void> exchange_then(
    asio::io_context& io, std::string method, std::string url, std::string body,
    std::vector<std::pair<std::string, std::string>> headers,
    std::chrono::milliseconds timeout,
    std::shared_ptr<std::function<void(expected<http_client_response>)>> once) {
  auto r = co_await exchange(io, std::move(method), std::move(url),
                             std::move(body), std::move(headers), timeout);
  auto d = std::exchange(*once, nullptr);
  if (d) d(std::move(r));
}

}  // namespace

void http_request_async(
    asio::io_context& io, const std::string& method, const std::string& url,
    const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout,
    std::function<void(expected<http_client_response>)> done) {
  // `done` once: from the coroutine, or, should it throw, at the spawn.
  auto once =
      std::make_shared<std::function<void(expected<http_client_response>)>>(
          std::move(done));
  asio::co_spawn(
      io, exchange_then(io, method, url, body, headers, timeout, once),
      [method, url, once](std::exception_ptr e) {
        auto d = std::exchange(*once, nullptr);
        if (e && d) {
          d(make_error(errc::internal,
                       method + " " + url + ": unexpected exception"));
        }
      });
}

expected<http_client_response> http_request_to(
    const std::string& method, const std::string& url, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout) {
  asio::io_context io;
  std::optional<expected<http_client_response>> result;
  http_request_async(
      io, method, url, body, headers, timeout,
      [&](expected<http_client_response> r) { result.emplace(std::move(r)); });
  io.run();
  if (!result) {
    return make_error(errc::internal, method + " " + url + ": no result");
  }
  return std::move(*result);
}

}  // namespace emnist
