// A parameter block's value as memcached might hand it back: torn,
// foreign, stale or corrupt. The expectation is read from the value's own
// header where there is one, so that the fuzzer gets past the field checks
// to the checksum and the payload.
#include <cstring>
#include <span>
#include <vector>

#include "fuzz/fuzz_target.hpp"
#include "runtime/store/block_codec.hpp"

namespace {

template <class T>
T read_le(const std::uint8_t* p) {
  T v{};
  std::memcpy(&v, p, sizeof v);  // the hosts we build for are little-endian
  return v;
}

}  // namespace

EMNIST_FUZZ_TARGET(block_codec) {
  using namespace emnist;
  const std::span<const std::byte> value(
      reinterpret_cast<const std::byte*>(data), size);
  block_expectation expect{3, 16, 0x5eed};
  if (size >= block_header_bytes) {
    expect.index = read_le<std::uint32_t>(data + 8);
    expect.count = read_le<std::uint32_t>(data + 12);
    expect.job_tag = read_le<std::uint64_t>(data + 24);
  }
  auto block = decode_block(value, expect, "emnist:fuzz:b:3");
  if (!block) {
    fuzz::check(
        block.error().message.find("emnist:fuzz:b:3") != std::string::npos,
        "a block error names the key");
    return false;
  }
  fuzz::check(block->payload.size() == std::size_t{expect.count} * 4,
              "the payload holds count floats");
  // What decodes encodes back to the same bytes.
  std::vector<float> floats(expect.count);
  read_payload(block->payload, floats);
  std::vector<std::byte> out;
  auto again = encode_block(
      {expect.index, block->version, expect.job_tag, block->writer}, floats,
      out);
  fuzz::check(again.size() == value.size() &&
                  std::memcmp(again.data(), value.data(), value.size()) == 0,
              "a decoded block encodes back to its bytes");
  // And a sum onto it decodes.
  std::vector<float> zero(expect.count, 0.0f);
  std::vector<std::byte> summed;
  auto sum =
      encode_block_sum({expect.index, block->version + 1, expect.job_tag, 1},
                       block->payload, zero, summed);
  fuzz::check(decode_block(sum, expect, "sum").has_value(),
              "a block plus zero decodes");
  return true;
}
