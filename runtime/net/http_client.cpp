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
#include <optional>

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

expected<http_client_response> http_request_to(
    const std::string& method, const std::string& url, const std::string& body,
    const std::vector<std::pair<std::string, std::string>>& headers,
    std::chrono::milliseconds timeout) {
  auto u = parse_url(url);
  if (!u) return u.error();
  asio::io_context io;
  std::optional<expected<http_client_response>> result;
  auto fail = [&](const std::string& what,
                  const boost::system::error_code& ec) {
    return make_error(errc::unavailable,
                      method + " " + url + ": " + what + ": " + ec.message());
  };
  auto run = [&]() -> asio::awaitable<void> {
    using asio::as_tuple;
    using asio::use_awaitable;
    tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(timeout);
    auto [rec, endpoints] = co_await resolver.async_resolve(
        u->host, u->port, as_tuple(use_awaitable));
    if (rec) {
      result.emplace(fail("resolving " + u->host, rec));
      co_return;
    }
    auto [cec, ep] =
        co_await stream.async_connect(endpoints, as_tuple(use_awaitable));
    if (cec) {
      result.emplace(fail("connecting", cec));
      co_return;
    }
    http::request<http::string_body> req{http::string_to_verb(method),
                                         u->target, 11};
    req.set(http::field::host, u->host + ":" + u->port);
    req.set(http::field::user_agent, "emnist");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    auto [wec, wn] =
        co_await http::async_write(stream, req, as_tuple(use_awaitable));
    if (wec) {
      result.emplace(fail("sending", wec));
      co_return;
    }
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    auto [ec, n] =
        co_await http::async_read(stream, buffer, res, as_tuple(use_awaitable));
    if (ec) {
      result.emplace(fail("reading the response", ec));
      co_return;
    }
    http_client_response answer{
        static_cast<int>(res.result_int()), std::move(res.body()), {}};
    for (const auto& field : res) {
      std::string name(field.name_string());
      for (auto& c : name) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      answer.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    result.emplace(std::move(answer));
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  };
  asio::co_spawn(io, run(), [&](std::exception_ptr e) {
    if (e && !result) {
      result.emplace(make_error(errc::internal,
                                method + " " + url + ": unexpected exception"));
    }
  });
  io.run();
  if (!result) {
    return make_error(errc::internal, method + " " + url + ": no result");
  }
  return std::move(*result);
}

}  // namespace emnist
