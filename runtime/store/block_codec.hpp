// The binary format of one parameter block as stored in memcached, so that
// a torn, foreign, stale-format or corrupt value is detected, never used.
//
//   std::vector<std::byte> value;
//   std::vector<std::byte> buffer;
//   auto value = encode_block({.index = 7, .version = 42, .job_tag = tag},
//                             floats, buffer);
//   auto block = decode_block(value, {7, count, tag}, "emnist/j1/b/7");
//   if (!block) report(block.error().message);  // names the key and the field
//
// Layout, little-endian, 48-byte header then the floats:
//   u32 magic 'EMPB' | u16 format 2 | u16 header size 48 | u32 block index |
//   u32 float count  | u64 version (pushes applied) | u64 job tag |
//   u32 CRC-32C of header (this field zero) and payload | u32 reserved 0 |
//   u64 writer: the push that wrote this value, so that a push retried
//   after a lost reply can tell that its compare-and-swap was applied
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"

namespace emnist {

inline constexpr std::uint32_t block_magic = 0x42504d45;  // "EMPB"
inline constexpr std::uint16_t block_format = 2;
inline constexpr std::size_t block_header_bytes = 48;

struct block_header {
  std::uint32_t index = 0;
  std::uint64_t version = 0;  ///< pushes applied to this block
  std::uint64_t job_tag = 0;  ///< identifies the job (and its shapes)
  std::uint64_t writer = 0;   ///< the push that wrote it; 0 for set-up
};

/// What a reader expects of a block.
struct block_expectation {
  std::uint32_t index = 0;
  std::uint32_t count = 0;
  std::uint64_t job_tag = 0;
};

struct decoded_block {
  std::uint64_t version = 0;
  std::uint64_t writer = 0;
  std::span<const std::byte> payload;  ///< count floats, little-endian
};

/// Writes header and floats into `out` and returns the value: the front
/// of `out`, which grows to fit and never shrinks (reuse it, so that
/// neither allocation nor zero-filling recurs).
[[nodiscard]] std::span<const std::byte> encode_block(
    const block_header& header, std::span<const float> values,
    std::vector<std::byte>& out);

/// Writes header and `base` + `delta` into `out` in one pass: `base` is a
/// decoded payload of delta.size() floats. The sum lands in `out` only, so
/// a push reads the stored block once and writes its new value once.
[[nodiscard]] std::span<const std::byte> encode_block_sum(
    const block_header& header, std::span<const std::byte> base,
    std::span<const float> delta, std::vector<std::byte>& out);

/// Checks every field; errors name `key` and what is wrong.
[[nodiscard]] expected<decoded_block> decode_block(
    std::span<const std::byte> value, const block_expectation& expect,
    const std::string& key);

/// Copies a decoded payload into floats (dst.size() == count).
void read_payload(std::span<const std::byte> payload, std::span<float> dst);

}  // namespace emnist
