// The live page of a job (GET /ui?job=J on emnist-setup): one
// self-contained HTML document, no external fetch, that polls
// status?job=J&history=1 beside it every second and draws each replica's
// progress and an SVG chart of test accuracy against time.
#pragma once

#include <string_view>

namespace emnist {

[[nodiscard]] std::string_view ui_page_html();

}  // namespace emnist
