// host:port parsing.
#include "runtime/net/address.hpp"

#include <charconv>

namespace emnist {

expected<server_address> parse_server(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return make_error(errc::invalid_argument,
                      "'" + text + "': expected host:port");
  }
  unsigned port = 0;
  const char* begin = text.data() + colon + 1;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, port);
  if (ec != std::errc{} || ptr != end || port == 0 || port > 65535) {
    return make_error(errc::invalid_argument,
                      "'" + text + "': port must be 1-65535");
  }
  return server_address{text.substr(0, colon),
                        static_cast<std::uint16_t>(port)};
}

}  // namespace emnist
