// The gateway's asynchronous route in a process that serves it itself
// (`serve --function all`): 202 with a call id at once, and the function's
// answer, when it comes, POSTed to the caller's X-Callback-Url with the
// headers the OpenFaaS queue-worker sends (X-Call-Id, X-Duration-Seconds,
// X-Function-Status, X-Function-Name).
//
//   reply = async_reply("emnist-train", request, std::move(reply));
//   ...run the call...; reply(answer);   // goes to the callback, if any
#pragma once

#include <string>

#include "runtime/net/http_server.hpp"

namespace emnist {

/// Answers `reply` with 202 and the call's id (its X-Call-Id, or a new
/// one); returns the reply that sends the function's answer on (a failure
/// is logged: nobody waits for it).
[[nodiscard]] http_reply async_reply(const std::string& function_name,
                                     const http_request& request,
                                     http_reply reply);

}  // namespace emnist
