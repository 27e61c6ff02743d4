// Debian's chromium, headless, driven over the DevTools protocol (JSON
// commands over a WebSocket): for a page the test must type into, which
// `chromium --dump-dom` cannot do. Every call has a time limit; the
// browser (its process group) is stopped and its profile removed at scope
// exit.
//
//   test::headless_chromium browser(serve.url("/ui?job=j1"));
//   REQUIRE(browser.wait_for("!document.getElementById('token-form').hidden",
//                            20s));
//   browser.type_and_enter("s3cret");
//   auto lines =
//   browser.evaluate("document.querySelectorAll('polyline').length");
#pragma once

#include <sys/types.h>

#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

namespace emnist::test {

class headless_chromium {
 public:
  /// Starts it on `url` and connects to the page. Throws
  /// std::runtime_error naming the step that failed (30 s at most).
  explicit headless_chromium(const std::string& url);
  ~headless_chromium();
  headless_chromium(const headless_chromium&) = delete;
  headless_chromium& operator=(const headless_chromium&) = delete;

  /// The value of a JavaScript expression in the page (a promise is
  /// awaited), as JSON; null for undefined. Throws on an exception.
  boost::json::value evaluate(const std::string& expression);
  /// Evaluates `expression` every 100 ms until it is truthy (one that
  /// throws is not): false when `limit` passes first.
  bool wait_for(const std::string& expression, std::chrono::milliseconds limit);
  /// Types `text` into the focused element as a user would, then presses
  /// Enter.
  void type_and_enter(const std::string& text);

 private:
  struct connection;
  boost::json::value command(const std::string& method,
                             boost::json::object params);

  pid_t pid_ = -1;
  std::filesystem::path profile_;
  std::unique_ptr<connection> connection_;
  std::int64_t next_id_ = 1;
};

}  // namespace emnist::test
