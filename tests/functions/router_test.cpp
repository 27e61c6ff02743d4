// The functions' routes, without a socket: every answer the router gives
// on its own, and the call it hands the service otherwise.
#include "functions/router.hpp"

#include <doctest/doctest.h>

#include "functions/ui_page.hpp"

using namespace emnist;

namespace {

http_request request(std::string method, std::string path,
                     std::string authorization = {}) {
  http_request r;
  r.method = std::move(method);
  r.path = path;
  r.target = std::move(path);
  if (!authorization.empty()) {
    r.headers.emplace_back("authorization", std::move(authorization));
  }
  return r;
}

route_context all() {
  route_context c;
  c.function = "all";
  c.max_inflight = 2;
  return c;
}

int status_of(const route_result& r) {
  const auto* now = std::get_if<http_response>(&r.action);
  REQUIRE_MESSAGE(now != nullptr, "expected an answer, got a call");
  return now->status;
}

function_call call_of(const route_result& r) {
  const auto* call = std::get_if<function_call>(&r.action);
  // Not a REQUIRE_MESSAGE: doctest evaluates a message on success too
  // (-s), and the answer is only there on failure.
  if (call == nullptr) {
    const auto& answer = std::get<http_response>(r.action);
    FAIL("expected a call, got " << answer.status << " " << answer.body);
  }
  return *call;
}

}  // namespace

TEST_CASE("router: the gateway's routes reach the functions") {
  auto c = all();
  auto setup = route(request("POST", "/function/emnist-setup"), c);
  CHECK(setup.label == "/function/emnist-setup");
  CHECK(call_of(setup).what == function_call::kind::setup);
  CHECK_FALSE(call_of(setup).async);

  auto train = route(request("POST", "/async-function/emnist-train"), c);
  CHECK(train.label == "/async-function/emnist-train");
  CHECK(call_of(train).what == function_call::kind::train);
  CHECK(call_of(train).async);

  // The rest of a function's path is routed as its own: the gateway's
  // status_url of a job.
  auto status = route(request("GET", "/function/emnist-setup/status"), c);
  CHECK(call_of(status).what == function_call::kind::status);
  CHECK(call_of(route(request("GET", "/metrics"), c)).what ==
        function_call::kind::metrics);
  // One level only: no function behind a function.
  CHECK(status_of(route(
            request("POST", "/function/emnist-setup/function/emnist-train"),
            c)) == 404);
}

TEST_CASE("router: a process serving one function answers on /") {
  route_context c;
  c.function = "train";
  c.max_inflight = 1;
  CHECK(call_of(route(request("POST", "/"), c)).what ==
        function_call::kind::train);
  // The gateway's routes are the "all" process's alone.
  auto r = route(request("POST", "/function/emnist-train"), c);
  CHECK(status_of(r) == 404);
  CHECK(std::get<http_response>(r.action).body.find(
            ": /, /status, /model, /ui, /metrics") != std::string::npos);
  c.function = "all";
  CHECK(status_of(route(request("POST", "/"), c)) == 404);
}

TEST_CASE("router: refusals name what is wrong") {
  auto c = all();
  auto unknown = route(request("POST", "/function/emnist-guess"), c);
  CHECK(status_of(unknown) == 404);
  CHECK(unknown.label == "other");  // no metric per made-up name
  CHECK(std::get<http_response>(unknown.action)
            .body.find(
                "no function 'emnist-guess': emnist-setup, emnist-train or "
                "emnist-predict") != std::string::npos);
  // Predictions are answered at once, never queued.
  auto async = route(request("POST", "/async-function/emnist-predict"), c);
  CHECK(status_of(async) == 400);
  CHECK(call_of(route(request("POST", "/function/emnist-predict"), c)).what ==
        function_call::kind::predict);

  auto put = route(request("PUT", "/function/emnist-train"), c);
  CHECK(status_of(put) == 405);
  CHECK(std::get<http_response>(put.action).body.find("PUT") !=
        std::string::npos);
  CHECK(status_of(route(request("POST", "/status"), c)) == 405);

  auto lost = route(request("GET", "/nowhere"), c);
  CHECK(status_of(lost) == 404);
  CHECK(lost.label == "other");
}

TEST_CASE("router: readiness, the in-flight limit and shutdown") {
  auto c = all();
  CHECK(status_of(route(request("GET", "/_/ready"), c)) == 200);
  // The limit is each function's: a setup may fan out while it runs.
  c.running_setup = 2;
  CHECK(status_of(route(request("POST", "/function/emnist-setup"), c)) == 429);
  CHECK(
      call_of(route(request("POST", "/async-function/emnist-train"), c)).what ==
      function_call::kind::train);
  // Saturated for setup calls: OpenFaaS's contract says 429 (it said 200).
  CHECK(status_of(route(request("GET", "/_/ready"), c)) == 429);
  c.function = "setup";
  CHECK(status_of(route(request("GET", "/_/ready"), c)) == 429);
  c.function = "train";  // a train process is not full of setups
  CHECK(status_of(route(request("GET", "/_/ready"), c)) == 200);
  c.function = "predict";  // predictions are never counted
  c.running_train = 2;
  CHECK(status_of(route(request("GET", "/_/ready"), c)) == 200);
  c.function = "all";
  c.running_setup = 0;
  c.running_train = 2;  // = max_inflight
  CHECK(status_of(route(request("GET", "/_/ready"), c)) == 429);
  auto busy = route(request("POST", "/function/emnist-train"), c);
  CHECK(status_of(busy) == 429);
  CHECK(std::get<http_response>(busy.action).body.find("http.max_inflight") !=
        std::string::npos);
  // Async calls too: the gateway's queue retries them.
  CHECK(status_of(route(request("POST", "/async-function/emnist-train"), c)) ==
        429);
  c.running_train = 0;
  c.stopping = true;
  CHECK(status_of(route(request("GET", "/_/ready"), c)) == 503);
  CHECK(status_of(route(request("POST", "/function/emnist-train"), c)) == 503);
  CHECK(status_of(route(request("POST", "/async-function/emnist-train"), c)) ==
        503);
  // Health stays up while the process drains.
  CHECK(status_of(route(request("GET", "/_/health"), c)) == 200);
}

TEST_CASE("router: a bearer token guards everything but health") {
  auto c = all();
  c.token = "s3cret";
  CHECK(status_of(route(request("GET", "/_/health"), c)) == 200);
  CHECK(status_of(route(request("GET", "/_/ready"), c)) == 200);
  for (const char* path :
       {"/metrics", "/status", "/function/emnist-train", "/nowhere"}) {
    CAPTURE(path);
    CHECK(status_of(route(request("GET", path), c)) == 401);
    CHECK(status_of(route(request("GET", path, "Bearer s3cre"), c)) == 401);
    CHECK(status_of(route(request("GET", path, "Bearer s3cretx"), c)) == 401);
  }
  CHECK(
      call_of(
          route(request("POST", "/function/emnist-train", "Bearer s3cret"), c))
          .what == function_call::kind::train);
  // The scheme in any case (RFC 7235); the token exactly.
  CHECK(call_of(route(request("GET", "/metrics", "bearer s3cret"), c)).what ==
        function_call::kind::metrics);
  CHECK(status_of(route(request("GET", "/metrics", "Bearer S3CRET"), c)) ==
        401);
  CHECK(status_of(route(request("GET", "/metrics", "Basic s3cret"), c)) == 401);
}

TEST_CASE("router: the live page needs no token, its job data does") {
  // A browser opening the page's link cannot send a header: the page (no
  // job data in it) comes without the token, and asks for it when the
  // status route it polls answers 401.
  auto c = all();
  c.token = "s3cret";
  for (const char* page : {"/ui", "/function/emnist-setup/ui"}) {
    CAPTURE(page);
    const auto r = route(request("GET", page), c);
    CHECK(status_of(r) == 200);
    const auto& answer = std::get<http_response>(r.action);
    CHECK(answer.body == ui_page_html());
    CHECK(status_of(route(request("POST", page), c)) == 405);
  }
  // Everything else under the gateway's path and beside it stays shut.
  for (const char* path :
       {"/status", "/model", "/metrics", "/function/emnist-setup/status",
        "/function/emnist-setup/model", "/function/emnist-setup/metrics",
        "/function/emnist-setup", "/function/emnist-setup/ui/status",
        "/function/emnist-guess/ui", "/async-function/emnist-setup/ui"}) {
    CAPTURE(path);
    CHECK(status_of(route(request("GET", path), c)) == 401);
  }
  CHECK(call_of(route(request("GET", "/function/emnist-setup/status",
                              "Bearer s3cret"),
                      c))
            .what == function_call::kind::status);
}

TEST_CASE("router: the page comes with a strict Content-Security-Policy") {
  const auto r = route(request("GET", "/ui"), all());
  const auto& answer = std::get<http_response>(r.action);
  const auto header = [&](const std::string& name) -> std::string {
    for (const auto& [k, v] : answer.headers) {
      if (k == name) return v;
    }
    return "(none)";
  };
  CHECK(header("X-Content-Type-Options") == "nosniff");
  const std::string csp = header("Content-Security-Policy");
  // Nothing loads or runs but the page's own script and style, named by
  // their SHA-256, and it connects to its own origin only: a token typed
  // into it cannot be sent anywhere else.
  for (const char* part :
       {"default-src 'none'", "script-src 'sha256-", "style-src 'sha256-",
        "connect-src 'self'", "form-action 'none'", "frame-ancestors 'none'",
        "base-uri 'none'"}) {
    CAPTURE(part);
    CHECK(csp.find(part) != std::string::npos);
  }
  CHECK(csp.find("unsafe") == std::string::npos);
  CHECK(csp == ui_page_csp());
}

TEST_CASE("router: the function a process serves is checked at start") {
  CHECK(parse_function_name("all").has_value());
  CHECK(parse_function_name("train").has_value());
  auto bad = parse_function_name("emnist-train");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message ==
        "--function: 'emnist-train': expected setup, train, predict or all");
}
