// Whether outside bytes are UTF-8 text. A configuration value is written
// back as TOML (to_toml, and setup's overrides to its trains), and TOML
// holds UTF-8 only: bytes that are not would come back as other text.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace emnist {

/// The offset of the first byte that does not belong to a well-formed
/// UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing past
/// U+10FFFF); none when all of `text` is UTF-8.
[[nodiscard]] inline std::optional<std::size_t> first_non_utf8(
    std::string_view text) {
  const auto byte = [&](std::size_t i) {
    return static_cast<unsigned char>(text[i]);
  };
  std::size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = byte(i);
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The sequence's length and the range its second byte must be in.
    std::size_t length = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) {
      length = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
      length = 3;
      if (c == 0xe0) lo = 0xa0;  // no overlong forms
      if (c == 0xed) hi = 0x9f;  // no surrogates
    } else if (c >= 0xf0 && c <= 0xf4) {
      length = 4;
      if (c == 0xf0) lo = 0x90;  // no overlong forms
      if (c == 0xf4) hi = 0x8f;  // nothing past U+10FFFF
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    if (byte(i + 1) < lo || byte(i + 1) > hi) return i;
    for (std::size_t k = 2; k < length; ++k) {
      if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return i;
    }
    i += length;
  }
  return std::nullopt;
}

}  // namespace emnist
