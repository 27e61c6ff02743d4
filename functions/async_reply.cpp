// 202 now, the answer to the callback later.
#include "functions/async_reply.hpp"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <random>

#include "runtime/net/http_client.hpp"

namespace emnist {
namespace {

using clock_type = std::chrono::steady_clock;
/// A callback's POST.
constexpr auto callback_timeout = std::chrono::seconds(10);

}  // namespace

http_reply async_reply(const std::string& function_name,
                       const http_request& request, http_reply reply) {
  std::string call_id;
  if (const auto* id = request.header("x-call-id")) call_id = *id;
  if (call_id.empty()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%016llx",
                  static_cast<unsigned long long>(
                      (std::uint64_t{std::random_device{}()} << 32) |
                      std::random_device{}()));
    call_id = buf;
  }
  std::string callback;
  if (const auto* url = request.header("x-callback-url")) callback = *url;
  reply({202,
         "application/json",
         boost::json::serialize(boost::json::object{{"call_id", call_id}}),
         {{"X-Call-Id", call_id}}});
  // The function's answer goes to the caller's callback, if it gave one.
  return [callback, call_id, function_name,
          t0 = clock_type::now()](http_response r) {
    // Nobody waits for an async call's answer: a failure is logged.
    if (r.status >= 400) {
      std::fprintf(stderr, "emnist: async call %s of %s failed (%d): %s\n",
                   call_id.c_str(), function_name.c_str(), r.status,
                   r.body.c_str());
    }
    if (callback.empty()) return;
    char seconds[32];
    std::snprintf(
        seconds, sizeof seconds, "%.6f",
        std::chrono::duration<double>(clock_type::now() - t0).count());
    auto sent =
        http_request_to("POST", callback, r.body,
                        {{"Content-Type", r.content_type},
                         {"X-Call-Id", call_id},
                         {"X-Duration-Seconds", seconds},
                         {"X-Function-Status", std::to_string(r.status)},
                         {"X-Function-Name", function_name}},
                        callback_timeout);
    if (!sent) {
      std::fprintf(stderr, "emnist: callback of call %s: %s\n", call_id.c_str(),
                   sent.error().message.c_str());
    }
  };
}

}  // namespace emnist
