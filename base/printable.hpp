// Outside text, made fit to quote in an error message: control and
// non-ASCII bytes escaped as \xNN, and cut to a length a reader can take,
// saying how long the original was. A 10 MB key or raw binary then costs
// the log one line, and a terminal no escape sequences.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace emnist {

[[nodiscard]] inline std::string printable(std::string_view text,
                                           std::size_t limit = 200) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (out.size() >= limit) {
      out += "... (" + std::to_string(text.size()) + " bytes)";
      break;
    }
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace emnist
