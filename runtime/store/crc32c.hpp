// CRC-32C (Castagnoli) of a byte range: the checksum of parameter blocks.
//
//   std::uint32_t c = emnist::crc32c(bytes.data(), bytes.size());
//
// Uses the SSE 4.2 instruction where the build targets it (8 bytes a cycle,
// so a 256 KiB block costs about 30 us), a table otherwise.
#pragma once

#include <cstddef>
#include <cstdint>

namespace emnist {

/// Continues `crc` (0 to start) over `n` bytes.
std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc = 0);

}  // namespace emnist
