// Parsing of a zip archive's directory structures, to find and read single
// members of a remote archive with a few HTTP range requests. Pure code: it
// parses buffers the caller fetched and does no I/O itself.
//
//   // 1. the last zip_eocd_search_bytes of the file (or all of it if shorter)
//   auto eocd = emnist::find_zip_eocd(tail, file_size - tail.size(),
//   "gzip.zip");
//   // 2. the eocd->cd_size bytes at eocd->cd_offset
//   auto entries = emnist::parse_zip_central_directory(cd, *eocd, "gzip.zip");
//   // 3. zip_local_header_bytes(e) bytes at e.local_header_offset
//   auto data_at = emnist::parse_zip_local_header(hdr, e, eocd->cd_offset,
//                                                 "gzip.zip");
//   // 4. e.compressed_size bytes at *data_at: raw deflate (8) or stored (0)
//
// Every read is bounds-checked. Errors (errc::data_loss for corrupt or
// truncated data, errc::invalid_argument for features not supported) start
// with the archive's name and give the byte offset in the archive where the
// problem is. ZIP64 and multi-disk archives are refused with a clear error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"

namespace emnist {

/// Size of the end of central directory record without its comment.
inline constexpr std::size_t zip_eocd_size = 22;
/// The EOCD lies in the last this many bytes: the record and a comment of
/// at most 65535 bytes.
inline constexpr std::size_t zip_eocd_search_bytes = zip_eocd_size + 65535;
/// Size of a central directory file header without name, extra, comment.
inline constexpr std::size_t zip_central_header_size = 46;
/// Size of a local file header without name and extra field.
inline constexpr std::size_t zip_local_header_size = 30;

inline constexpr std::uint16_t zip_method_stored = 0;
inline constexpr std::uint16_t zip_method_deflated = 8;

/// What the end of central directory record says.
struct zip_eocd {
  std::uint64_t offset = 0;       ///< archive offset of the record itself
  std::uint64_t entry_count = 0;  ///< entries in the central directory
  std::uint64_t cd_offset = 0;    ///< archive offset of the central directory
  std::uint64_t cd_size = 0;      ///< its size in bytes
};

/// One member, as the central directory describes it.
struct zip_entry {
  std::string name{};       ///< as stored, e.g. "gzip/emnist-mnist-mapping.txt"
  std::uint16_t flags = 0;  ///< general purpose bit flags
  std::uint16_t method = 0;  ///< zip_method_stored, zip_method_deflated, ...
  std::uint32_t crc32 = 0;   ///< CRC-32 of the uncompressed data
  std::uint64_t compressed_size = 0;
  std::uint64_t uncompressed_size = 0;
  std::uint64_t local_header_offset = 0;  ///< archive offset

  /// Bit 0 of the flags: the member is encrypted.
  [[nodiscard]] bool encrypted() const noexcept { return (flags & 1u) != 0; }
};

/// Finds the end of central directory record in `tail`, the last bytes of
/// the archive, which start at archive offset `tail_offset`. Searches the
/// last zip_eocd_search_bytes of `tail`, from its end. Checks that the
/// central directory lies before the record; refuses ZIP64 and multi-disk
/// archives. `archive` names the archive in error messages.
[[nodiscard]] expected<zip_eocd> find_zip_eocd(std::span<const std::byte> tail,
                                               std::uint64_t tail_offset,
                                               std::string_view archive);

/// Parses the central directory `cd`, the eocd.cd_size bytes at archive
/// offset eocd.cd_offset, into eocd.entry_count entries in stored order.
/// Refuses entries with ZIP64 sizes and entries whose local header would
/// not lie before the central directory.
[[nodiscard]] expected<std::vector<zip_entry>> parse_zip_central_directory(
    std::span<const std::byte> cd, const zip_eocd& eocd,
    std::string_view archive);

/// How many bytes at entry.local_header_offset parse_zip_local_header needs:
/// the fixed header and the name.
[[nodiscard]] inline std::uint64_t zip_local_header_bytes(
    const zip_entry& entry) noexcept {
  return zip_local_header_size + entry.name.size();
}

/// Parses the local file header of `entry` in `header`, the bytes at
/// entry.local_header_offset (at least zip_local_header_bytes(entry) of
/// them), and returns the archive offset of the member's first data byte.
/// Checks the signature, that name and method agree with the central
/// directory, and that the data ends at or before `data_limit` (normally
/// eocd.cd_offset).
[[nodiscard]] expected<std::uint64_t> parse_zip_local_header(
    std::span<const std::byte> header, const zip_entry& entry,
    std::uint64_t data_limit, std::string_view archive);

}  // namespace emnist
