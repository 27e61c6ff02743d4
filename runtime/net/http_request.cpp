// What a request is to the handlers: the target split and percent-decoded,
// header names in lower case, and the JSON errors of a refusal. Parsing
// only (Beast's parser, no sockets, no coroutines), so that tests and the
// fuzz target (tests/fuzz/http_fuzz.cpp) run exactly what the server runs.
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>

#include "base/printable.hpp"
#include "runtime/net/beast_request.hpp"
#include "runtime/net/http_server.hpp"
#include "runtime/net/json_text.hpp"

namespace emnist {

const std::string* http_request::query_value(const std::string& name) const {
  for (const auto& [k, v] : query) {
    if (k == name) return &v;
  }
  return nullptr;
}

const std::string* http_request::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return &v;
  }
  return nullptr;
}

http_response json_error(int status, const std::string& message,
                         const std::string& field) {
  boost::json::object o;
  o["error"] = message;
  o["field"] = field;
  return {status, "application/json", readable_json(o), {}};
}

namespace {

namespace http = boost::beast::http;

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Percent-decoding ('+' is a space in a query); false on a bad escape.
bool url_decode(std::string_view in, std::string& out, bool plus_is_space) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    const char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hex_digit(in[i + 1]);
      const int lo = hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return true;
}

/// Splits and decodes the request target; errors name the part.
expected<void> parse_target(std::string_view target, http_request& req) {
  const auto q = target.find('?');
  if (!url_decode(target.substr(0, q), req.path, false)) {
    return make_error(errc::invalid_argument, "path: bad percent-encoding");
  }
  if (q == std::string_view::npos) return {};
  std::string_view rest = target.substr(q + 1);
  while (!rest.empty()) {
    const auto amp = rest.find('&');
    const std::string_view part = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view{}
                                         : rest.substr(amp + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    std::string key, value;
    if (!url_decode(part.substr(0, eq), key, true) ||
        (eq != std::string_view::npos &&
         !url_decode(part.substr(eq + 1), value, true))) {
      return make_error(
          errc::invalid_argument,
          "query: bad percent-encoding in '" + printable(part) + "'");
    }
    req.query.emplace_back(std::move(key), std::move(value));
  }
  return {};
}

}  // namespace

expected<http_request> request_of(
    boost::beast::http::request<boost::beast::http::string_body>&& msg) {
  http_request req;
  req.method = std::string(msg.method_string());
  req.target = std::string(msg.target());
  if (auto ok = parse_target(req.target, req); !ok) return ok.error();
  for (const auto& f : msg) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(c));
    req.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  req.body = std::move(msg.body());
  return req;
}

expected<http_request> parse_http_request(std::string_view raw,
                                          std::size_t max_body_bytes) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(max_body_bytes);
  parser.eager(true);
  boost::beast::error_code ec;
  std::size_t used = 0;
  while (!parser.is_done() && used < raw.size()) {
    const auto n = parser.put(boost::asio::buffer(raw.substr(used)), ec);
    used += n;
    if (ec == http::error::need_more) {
      ec = {};
      if (n == 0) break;  // the rest is not a whole piece yet
    } else if (ec) {
      break;
    }
  }
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec == http::error::body_limit) {
    return make_error(errc::invalid_argument,
                      "request body larger than http.max_body_bytes (" +
                          std::to_string(max_body_bytes) + " bytes)");
  }
  if (ec) {
    return make_error(errc::invalid_argument,
                      "malformed request: " + ec.message());
  }
  return request_of(parser.release());
}

}  // namespace emnist
