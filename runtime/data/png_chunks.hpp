// PNG's chunks (ISO/IEC 15948, 5.3): after the 8-byte signature, each is a
// 4-byte big-endian length, a 4-letter type, the data and a CRC-32 of type
// and data. A lowercase first letter marks an ancillary chunk, one a
// decoder may skip. What both PNG readers (png_fast_reader, and the
// libpng path in png_image.cpp) need to walk them.
//
//   std::size_t pos = png_signature_size;
//   while (const auto c = png_chunk_at(file, pos)) {
//     pos = c->end();
//     ... c->type ... c->data ...
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace emnist {

inline constexpr std::size_t png_signature_size = 8;
/// Length, type and CRC around a chunk's data.
inline constexpr std::size_t png_chunk_overhead = 12;
/// The largest length PNG allows (2^31 - 1).
inline constexpr std::uint32_t png_max_chunk_length = 0x7fff'ffff;

struct png_chunk {
  std::size_t offset = 0;  ///< of its length field, from the file's start
  std::string_view type;   ///< the 4 type bytes as they are
  std::span<const std::byte> data;
  std::uint32_t crc = 0;  ///< as stored

  [[nodiscard]] bool ancillary() const {
    return (static_cast<unsigned char>(type[0]) & 0x20) != 0;
  }
  /// Where the next chunk starts.
  [[nodiscard]] std::size_t end() const {
    return offset + png_chunk_overhead + data.size();
  }
};

[[nodiscard]] inline std::uint32_t png_be32(const std::byte* p) {
  return std::uint32_t(std::to_integer<std::uint8_t>(p[0])) << 24 |
         std::uint32_t(std::to_integer<std::uint8_t>(p[1])) << 16 |
         std::uint32_t(std::to_integer<std::uint8_t>(p[2])) << 8 |
         std::uint32_t(std::to_integer<std::uint8_t>(p[3]));
}

/// The chunk whose length field is at `offset`, or nullopt where the file
/// ends before the chunk's CRC does or the length is over PNG's limit.
[[nodiscard]] inline std::optional<png_chunk> png_chunk_at(
    std::span<const std::byte> file, std::size_t offset) {
  if (offset > file.size() || file.size() - offset < png_chunk_overhead) {
    return std::nullopt;
  }
  const std::uint32_t length = png_be32(&file[offset]);
  if (length > png_max_chunk_length ||
      file.size() - offset - png_chunk_overhead < length) {
    return std::nullopt;
  }
  return png_chunk{
      offset,
      std::string_view(reinterpret_cast<const char*>(&file[offset + 4]), 4),
      file.subspan(offset + 8, length), png_be32(&file[offset + 8 + length])};
}

/// Four ASCII letters, as PNG requires (libpng refuses the file otherwise).
[[nodiscard]] inline bool png_chunk_type_valid(std::string_view type) {
  for (const char c : type) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'))) return false;
  }
  return type.size() == 4;
}

/// The ancillary chunks that change how libpng's simplified API renders
/// the pixels: transparency, gamma, chromaticities, an ICC profile,
/// significant bits, background. Not sRGB alone, which libpng's own
/// writer adds: 8-bit output is sRGB already, so nothing changes.
[[nodiscard]] inline bool png_chunk_changes_rendering(std::string_view type) {
  for (std::string_view t : {"tRNS", "gAMA", "cHRM", "iCCP", "sBIT", "bKGD"}) {
    if (type == t) return true;
  }
  return false;
}

}  // namespace emnist
