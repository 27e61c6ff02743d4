// An HTTP request from any bytes, parsed as the server parses a
// connection, then routed as each function would route it, and its body
// read as config overrides.
#include <string_view>

#include "functions/router.hpp"
#include "functions/ui_page.hpp"
#include "fuzz/fuzz_target.hpp"
#include "runtime/config/config_overrides.hpp"
#include "runtime/net/http_server.hpp"

EMNIST_FUZZ_TARGET(http) {
  using namespace emnist;
  const std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto request = parse_http_request(raw, 4096);
  if (!request) return false;
  fuzz::check(request->body.size() <= 4096, "the body limit holds");
  for (const char* function : {"all", "setup", "train"}) {
    for (const char* token : {"", "s3cret"}) {
      route_context context;
      context.function = function;
      context.token = token;
      context.running_train = size % 3;
      context.max_inflight = 2;
      auto r = route(*request, context);
      fuzz::check(!r.label.empty(), "every request has a metrics label");
      if (const auto* answer = std::get_if<http_response>(&r.action)) {
        fuzz::check(answer->status >= 200 && answer->status < 600,
                    "an answer has an HTTP status");
      }
      fuzz::check(*token == 0 ||
                      !std::holds_alternative<function_call>(r.action) ||
                      request->header("authorization") != nullptr ||
                      r.label == "/_/health" || r.label == "/_/ready",
                  "no call runs without the token");
      // What a request without the token may read: health, readiness and
      // the live page, which holds no job data.
      const auto* answer = std::get_if<http_response>(&r.action);
      fuzz::check(*token == 0 || answer == nullptr || answer->status != 200 ||
                      request->header("authorization") != nullptr ||
                      r.label == "/_/health" || r.label == "/_/ready" ||
                      answer->body == ui_page_html(),
                  "nothing but the page is read without the token");
    }
  }
  (void)overrides_from_body(request->body);
  return true;
}
