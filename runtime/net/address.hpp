// "host:port" as the configuration and the errors write a server.
//
//   auto a = parse_server("127.0.0.1:11211");   // {host, port}
//   if (!a) fail(a.error().message);            // "'x': expected host:port"
#pragma once

#include <cstdint>
#include <string>

#include "base/expected.hpp"

namespace emnist {

struct server_address {
  std::string host;
  std::uint16_t port = 0;
  /// "host:port", as errors name a server.
  std::string text() const { return host + ":" + std::to_string(port); }
};

/// Parses "host:port" (the last colon splits them); errors quote the text.
[[nodiscard]] expected<server_address> parse_server(const std::string& text);

}  // namespace emnist
