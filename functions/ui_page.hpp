// The live page of a job (GET /ui?job=J on emnist-setup): one
// self-contained HTML document, no external fetch, that polls
// status?job=J&history=1 beside it every second and draws each replica's
// progress and an SVG chart of test accuracy against time.
//
// The page holds no job data, so it is served without the token; the
// status route it polls needs it. When the functions have a token, the
// page asks for it on the first 401 and keeps it in sessionStorage. Its
// Content-Security-Policy lets it run only its own script and style and
// connect only to its own origin: a token typed into it cannot be sent
// anywhere else.
//
//   reply(ui_page_response());   // 200, the page and its headers
#pragma once

#include <string>
#include <string_view>

#include "runtime/net/http_server.hpp"

namespace emnist {

[[nodiscard]] std::string_view ui_page_html();
/// default-src 'none'; its script and style by SHA-256; connect-src 'self'.
[[nodiscard]] const std::string& ui_page_csp();
/// The page with its Content-Security-Policy, nosniff and no referrer.
[[nodiscard]] http_response ui_page_response();

}  // namespace emnist
