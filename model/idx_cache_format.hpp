// The file format of the IDX cache (idx_cache.hpp): one gzip IDX file of
// the EMNIST release, inflated, behind a header that says which source it
// stands for and holds a CRC-32 of every chunk of it.
//
//   cache_header h{stamp, payload_bytes, cache_chunk_bytes, crcs};
//   auto head = encode_cache_header(h);      // write head, then the payload
//   auto back = decode_cache_header(file_bytes, name);  // checks everything
//                                                       // but the payload
//
// Layout (little-endian):
//
//   0   16  magic "emnist-idx-cache"
//   16   4  format version (1)
//   20   4  chunk bytes
//   24   8  the source's size in bytes       (these three: the source's
//   32   4  its gzip trailer's CRC-32         stamp)
//   36   4  its gzip trailer's size mod 2^32
//   40   8  payload bytes (the inflated IDX file)
//   48   4  chunk count
//   52   4  CRC-32 of bytes 0-51 and of the chunk table
//   56   8  zero
//   64  4n  CRC-32 of each chunk of the payload
//   ...     zero up to payload_offset() (a multiple of 4096), then the payload
//
// The stamp is the source's content (its size and the checksum gzip keeps
// of the inflated data), not its path or mtime: a copy of the data (an
// image build, `cp`) still matches its cache. The chunk checksums let a
// reader check the part it reads, and only that part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace emnist {

/// What identifies a gzip source: its size and its trailer.
struct gzip_stamp {
  std::uint64_t size = 0;   ///< bytes of the .gz file
  std::uint32_t crc32 = 0;  ///< CRC-32 of the inflated bytes (trailer)
  std::uint32_t isize = 0;  ///< inflated bytes mod 2^32 (trailer)
  bool operator==(const gzip_stamp&) const = default;
};

/// The stamp of gzip bytes: their size and the last 8 of them.
[[nodiscard]] gzip_stamp gzip_stamp_of(std::span<const std::uint8_t> gz);

inline constexpr std::uint32_t cache_format_version = 1;
/// 4 MiB: a few hundred CRCs for the largest EMNIST file, and a shard's
/// check reads at most two chunks it does not need.
inline constexpr std::uint32_t cache_chunk_bytes = 4u << 20;

struct cache_header {
  gzip_stamp source;
  std::uint64_t payload_bytes = 0;
  std::uint32_t chunk_bytes = cache_chunk_bytes;
  std::vector<std::uint32_t> chunk_crcs;  ///< one per chunk of the payload

  /// Where the payload starts: the header rounded up to 4096 bytes.
  std::size_t payload_offset() const;
};

/// The chunks `payload_bytes` make at `chunk_bytes` each (the last shorter).
std::size_t chunk_count(std::uint64_t payload_bytes, std::uint32_t chunk_bytes);

/// The bytes before the payload, zero padding included.
[[nodiscard]] std::vector<std::uint8_t> encode_cache_header(
    const cache_header& h);

/// Reads and checks the header at the start of a whole cache file: magic,
/// version, its own CRC, the chunk count against the payload size, and the
/// file's size against both. Errors name `name` and what did not match.
[[nodiscard]] expected<cache_header> decode_cache_header(
    std::span<const std::uint8_t> file, const std::string& name);

/// CRC-32 (gzip's) of `bytes`.
[[nodiscard]] std::uint32_t crc32_of(std::span<const std::uint8_t> bytes);

/// CRC-32 of each `chunk_bytes` piece of `payload`, on up to `threads`
/// threads.
[[nodiscard]] std::vector<std::uint32_t> chunk_crcs(
    std::span<const std::uint8_t> payload, std::uint32_t chunk_bytes,
    unsigned threads);

}  // namespace emnist
