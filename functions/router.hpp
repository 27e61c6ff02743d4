// Where a request to the functions goes: a pure function of the request
// and the service's state, so that every route, refusal and error can be
// tested without a socket or a job.
//
//   auto r = route(request, {"all", token, stopping, running, max_inflight});
//   metrics.count(r.label, ...);
//   if (auto* now = std::get_if<http_response>(&r.action)) reply(*now);
//   else run(std::get<function_call>(r.action));
#pragma once

#include <cstddef>
#include <string>
#include <variant>

#include "base/expected.hpp"
#include "runtime/net/http_server.hpp"

namespace emnist {

/// Which function a process serves: "setup", "train" or "all".
[[nodiscard]] expected<std::string> parse_function_name(const std::string& s);

/// What the router needs to know of the service.
struct route_context {
  std::string function = "all";  ///< "setup", "train" or "all"
  std::string token;             ///< the bearer token; empty: no auth
  bool stopping = false;         ///< shutting down: no new calls
  /// Calls of each function running now: http.max_inflight applies to
  /// each function, as OpenFaaS applies it to each function's pods (a
  /// setup must not be refused its own fan-out).
  std::size_t running_setup = 0;
  std::size_t running_train = 0;
  std::size_t max_inflight = 1;  ///< http.max_inflight
};

/// A call the service runs: a function (setup, train), a status read or
/// the metrics page. `async`: answer 202 with a call id at once, run
/// after (the gateway's /async-function/ route).
struct function_call {
  enum class kind { setup, train, status, metrics, model, predict };
  kind what = kind::status;
  bool async = false;
};

struct route_result {
  /// The route for the request metrics: a known path, else "other", so
  /// that clients cannot grow the metrics with paths of their own.
  std::string label;
  std::variant<http_response, function_call> action;
};

[[nodiscard]] route_result route(const http_request& request,
                                 const route_context& context);

}  // namespace emnist
