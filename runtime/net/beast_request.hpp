// Internal to runtime/net: a Beast request turned into the http_request
// the handlers see (http_request.cpp), for the server's connections and
// parse_http_request alike. Includes Beast: only for runtime/net/*.cpp.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "base/expected.hpp"
#include "runtime/net/http_server.hpp"

namespace emnist {

/// The target split and decoded, header names in lower case; an error
/// (the server's 400) names a bad percent-encoding.
[[nodiscard]] expected<http_request> request_of(
    boost::beast::http::request<boost::beast::http::string_body>&& msg);

}  // namespace emnist
