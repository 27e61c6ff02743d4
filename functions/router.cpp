// The functions' routes: OpenFaaS's (/ for the function a process serves,
// /_/health, /_/ready), ours (/status, /metrics), and with "all" the
// gateway's (/function/NAME[/...], /async-function/NAME).
#include "functions/router.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cctype>
#include <string_view>

#include "base/printable.hpp"
#include "functions/ui_page.hpp"

namespace emnist {
namespace {

using kind = function_call::kind;

/// "emnist-train" or "train" -> "train"; empty when unknown.
std::string function_of(const std::string& name) {
  if (name == "emnist-setup" || name == "setup") return "setup";
  if (name == "emnist-train" || name == "train") return "train";
  if (name == "emnist-predict" || name == "predict") return "predict";
  return {};
}

/// Compares in time that depends on the lengths only.
bool same_secret(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const char x = i < a.size() ? a[i] : 0;
    const char y = i < b.size() ? b[i] : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

/// "Bearer <token>", the scheme in any case (RFC 7235), the token
/// compared in constant time.
bool bearer_matches(const std::string& header, const std::string& token) {
  constexpr std::string_view scheme = "bearer ";
  if (header.size() < scheme.size()) return false;
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != scheme[i]) {
      return false;
    }
  }
  return same_secret(header.substr(scheme.size()), token);
}

http_response json_ok(int status, const char* key, const char* value) {
  return {status,
          "application/json",
          boost::json::serialize(boost::json::object{{key, value}}),
          {}};
}

std::string label_of(const std::string& path) {
  if (path.rfind("/function/", 0) == 0 ||
      path.rfind("/async-function/", 0) == 0) {
    const auto second = path.find('/', path.find('/', 1) + 1);
    std::string label = path.substr(0, second);
    if (function_of(label.substr(label.rfind('/') + 1)).empty()) {
      return "other";
    }
    return label;
  }
  if (path == "/" || path == "/_/health" || path == "/_/ready" ||
      path == "/metrics" || path == "/status" || path == "/model" ||
      path == "/ui") {
    return path;
  }
  return "other";
}

std::variant<http_response, function_call> too_busy(const route_context& c,
                                                    const char* what) {
  return json_error(
      429, "http.max_inflight (" + std::to_string(c.max_inflight) + ") " + what,
      "max_inflight");
}

bool full(const std::string& which, const route_context& c) {
  // Predictions are not counted: emnist-predict is never full.
  if (which == "predict") return false;
  return (which == "setup" ? c.running_setup : c.running_train) >=
         c.max_inflight;
}

/// The page through the gateway's path (/function/emnist-setup/ui): the
/// one route under /function/ that needs no token (see /ui below).
bool gateway_page(const std::string& path, bool gateway,
                  const route_context& c) {
  if (!gateway || c.function != "all") return false;
  constexpr std::string_view prefix = "/function/";
  if (path.rfind(prefix, 0) != 0) return false;
  const auto rest_at = path.find('/', prefix.size());
  if (rest_at == std::string::npos || path.substr(rest_at) != "/ui") {
    return false;
  }
  return !function_of(path.substr(prefix.size(), rest_at - prefix.size()))
              .empty();
}

/// A synchronous call of function `which` ("setup", "train" or "predict").
std::variant<http_response, function_call> function(const std::string& which,
                                                    const http_request& r,
                                                    const route_context& c) {
  if (r.method != "POST" && r.method != "GET") {
    return json_error(405, printable(r.method) + ": use POST or GET", "method");
  }
  if (c.stopping) return json_error(503, "shutting down", "function");
  // Predictions take microseconds: not counted against max_inflight.
  if (which == "predict") return function_call{kind::predict, false};
  if (full(which, c)) return too_busy(c, "calls running");
  return function_call{which == "setup" ? kind::setup : kind::train, false};
}

/// The routes of `path`; with `gateway`, the gateway's routes too (not
/// for the rest of a /function/NAME/... path: one level only).
std::variant<http_response, function_call> route_path(const std::string& path,
                                                      bool gateway,
                                                      const http_request& r,
                                                      const route_context& c) {
  if (path == "/_/health") return json_ok(200, "status", "ok");
  if (path == "/_/ready") {
    if (c.stopping) return json_error(503, "shutting down", "ready");
    // Saturated: a call of the function it serves would get 429. For
    // "all", a call of either (setup's slots full was answered 200).
    const bool saturated = c.function == "all"
                               ? full("setup", c) || full("train", c)
                               : full(c.function, c);
    if (saturated) return too_busy(c, "reached");
    return json_ok(200, "status", "ready");
  }
  if (path == "/ui") {
    if (r.method != "GET" && r.method != "HEAD") {
      return json_error(405, printable(r.method) + " on /ui: use GET",
                        "method");
    }
    // Static, no job data, and no token: a browser opening a link cannot
    // send one. The page reads the job from its own URL, and asks for the
    // token when the status route it polls answers 401.
    return ui_page_response();
  }
  if (!c.token.empty() && !gateway_page(path, gateway, c)) {
    const std::string* h = r.header("authorization");
    if (h == nullptr || !bearer_matches(*h, c.token)) {
      return json_error(401, "missing or wrong bearer token", "authorization");
    }
  }
  if (path == "/metrics" || path == "/status" || path == "/model") {
    if (r.method != "GET" && r.method != "HEAD") {
      return json_error(
          405, printable(r.method) + " on " + printable(path) + ": use GET",
          "method");
    }
    return function_call{path == "/metrics"  ? kind::metrics
                         : path == "/status" ? kind::status
                                             : kind::model,
                         false};
  }
  if (c.function == "all" && gateway) {
    for (const std::string prefix : {"/function/", "/async-function/"}) {
      if (path.rfind(prefix, 0) != 0) continue;
      const auto rest_at = path.find('/', prefix.size());
      const std::string name =
          path.substr(prefix.size(), rest_at - prefix.size());
      const std::string rest =
          rest_at == std::string::npos ? "/" : path.substr(rest_at);
      const std::string which = function_of(name);
      if (which.empty()) {
        return json_error(404,
                          "no function '" + printable(name) +
                              "': emnist-setup, emnist-train or "
                              "emnist-predict",
                          "function");
      }
      if (prefix == "/async-function/" && which == "predict") {
        return json_error(400,
                          "emnist-predict answers at once: use "
                          "/function/emnist-predict",
                          "function");
      }
      if (prefix == "/async-function/") {
        // Accepted work is bounded like any call: beyond the limit the
        // gateway's queue keeps it (it retries on 429).
        if (c.stopping) return json_error(503, "shutting down", "function");
        if (full(which, c)) return too_busy(c, "calls running");
        return function_call{which == "setup" ? kind::setup : kind::train,
                             true};
      }
      // e.g. /function/emnist-setup/status
      if (rest != "/") return route_path(rest, false, r, c);
      return function(which, r, c);
    }
  } else if (path == "/" && c.function != "all") {
    return function(c.function, r, c);
  }
  return json_error(
      404,
      "no route " + printable(path) +
          (c.function == "all" ? ": /function/emnist-setup, "
                                 "/function/emnist-train, /async-function/..., "
                                 "/status, /model, /ui, /metrics, /_/health, "
                                 "/_/ready"
                               : ": /, /status, /model, /ui, /metrics, "
                                 "/_/health, /_/ready"),
      "path");
}

}  // namespace

expected<std::string> parse_function_name(const std::string& s) {
  if (s == "setup" || s == "train" || s == "predict" || s == "all") return s;
  return make_error(
      errc::invalid_argument,
      "--function: '" + s + "': expected setup, train, predict or all");
}

route_result route(const http_request& request, const route_context& context) {
  return {label_of(request.path),
          route_path(request.path, true, request, context)};
}

}  // namespace emnist
