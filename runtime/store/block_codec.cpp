// Encoding and strict decoding of parameter blocks.
#include "runtime/store/block_codec.hpp"

#include <bit>
#include <cassert>
#include <cstdio>
#include <cstring>

#include "runtime/store/crc32c.hpp"

static_assert(std::endian::native == std::endian::little,
              "the block format is little-endian; add byte swapping here");

namespace emnist {
namespace {

constexpr std::size_t checksum_offset = 32;

template <class T>
void put(std::byte* at, T v) {
  std::memcpy(at, &v, sizeof v);
}
template <class T>
T get(const std::byte* at) {
  T v;
  std::memcpy(&v, at, sizeof v);
  return v;
}

std::uint32_t checksum(std::span<const std::byte> value) {
  // The header with its checksum field as zero, then the payload.
  std::byte header[block_header_bytes];
  std::memcpy(header, value.data(), block_header_bytes);
  put<std::uint32_t>(header + checksum_offset, 0);
  const std::uint32_t c = crc32c(header, block_header_bytes);
  return crc32c(value.data() + block_header_bytes,
                value.size() - block_header_bytes, c);
}

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

/// Grows `out` to hold `count` floats (never shrinks it: growing back a
/// shrunk vector zero-fills, a pass over 256 KiB per push) and writes the
/// header, checksum zero.
std::byte* begin_block(const block_header& header, std::size_t count,
                       std::vector<std::byte>& out) {
  const std::size_t size = block_header_bytes + count * sizeof(float);
  if (out.size() < size) out.resize(size);
  std::byte* p = out.data();
  put<std::uint32_t>(p + 0, block_magic);
  put<std::uint16_t>(p + 4, block_format);
  put<std::uint16_t>(p + 6, static_cast<std::uint16_t>(block_header_bytes));
  put<std::uint32_t>(p + 8, header.index);
  put<std::uint32_t>(p + 12, static_cast<std::uint32_t>(count));
  put<std::uint64_t>(p + 16, header.version);
  put<std::uint64_t>(p + 24, header.job_tag);
  put<std::uint32_t>(p + checksum_offset, 0);
  put<std::uint32_t>(p + 36, 0);
  put<std::uint64_t>(p + 40, header.writer);
  return p + block_header_bytes;
}

std::span<const std::byte> seal_block(std::vector<std::byte>& out,
                                      std::size_t count) {
  const std::span<std::byte> value(out.data(),
                                   block_header_bytes + count * sizeof(float));
  put<std::uint32_t>(value.data() + checksum_offset, checksum(value));
  return value;
}

}  // namespace

std::span<const std::byte> encode_block(const block_header& header,
                                        std::span<const float> values,
                                        std::vector<std::byte>& out) {
  std::byte* payload = begin_block(header, values.size(), out);
  std::memcpy(payload, values.data(), values.size_bytes());
  return seal_block(out, values.size());
}

std::span<const std::byte> encode_block_sum(const block_header& header,
                                            std::span<const std::byte> base,
                                            std::span<const float> delta,
                                            std::vector<std::byte>& out) {
  assert(base.size() >= delta.size_bytes());  // decode_block checked it
  std::byte* payload = begin_block(header, delta.size(), out);
  const std::byte* from = base.data();
  // memcpy per float keeps the payload's alignment out of it; the loop
  // still compiles to vector loads, adds and stores.
  for (std::size_t i = 0; i < delta.size(); ++i) {
    float v;
    std::memcpy(&v, from + i * sizeof(float), sizeof v);
    v += delta[i];
    std::memcpy(payload + i * sizeof(float), &v, sizeof v);
  }
  return seal_block(out, delta.size());
}

expected<decoded_block> decode_block(std::span<const std::byte> value,
                                     const block_expectation& expect,
                                     const std::string& key) {
  auto fail = [&](errc code, const std::string& what) {
    return make_error(code, "parameter block '" + key + "': " + what);
  };
  if (value.size() < block_header_bytes) {
    return fail(errc::data_loss, "value of " + std::to_string(value.size()) +
                                     " bytes is shorter than the " +
                                     std::to_string(block_header_bytes) +
                                     "-byte header (torn or foreign value)");
  }
  const std::byte* p = value.data();
  if (const auto magic = get<std::uint32_t>(p); magic != block_magic) {
    return fail(errc::data_loss, "byte offset 0: magic " + hex(magic) +
                                     ", expected " + hex(block_magic) +
                                     " (not a parameter block)");
  }
  if (const auto format = get<std::uint16_t>(p + 4); format != block_format) {
    return fail(errc::invalid_argument,
                "byte offset 4: format version " + std::to_string(format) +
                    ", this program reads " + std::to_string(block_format));
  }
  if (const auto hb = get<std::uint16_t>(p + 6); hb != block_header_bytes) {
    return fail(errc::data_loss, "byte offset 6: header size " +
                                     std::to_string(hb) + ", expected " +
                                     std::to_string(block_header_bytes));
  }
  if (const auto index = get<std::uint32_t>(p + 8); index != expect.index) {
    return fail(errc::data_loss, "byte offset 8: block index " +
                                     std::to_string(index) + ", expected " +
                                     std::to_string(expect.index));
  }
  if (const auto count = get<std::uint32_t>(p + 12); count != expect.count) {
    return fail(errc::data_loss, "byte offset 12: " + std::to_string(count) +
                                     " floats, expected " +
                                     std::to_string(expect.count));
  }
  if (const auto tag = get<std::uint64_t>(p + 24); tag != expect.job_tag) {
    return fail(errc::invalid_argument,
                "byte offset 24: job tag " + hex(tag) + ", expected " +
                    hex(expect.job_tag) +
                    " (a value of another job or configuration)");
  }
  const std::size_t want = block_header_bytes + std::size_t{expect.count} * 4;
  if (value.size() != want) {
    return fail(errc::data_loss, "value of " + std::to_string(value.size()) +
                                     " bytes, expected " +
                                     std::to_string(want) + " (torn value)");
  }
  if (const auto stored = get<std::uint32_t>(p + checksum_offset),
      actual = checksum(value);
      stored != actual) {
    return fail(errc::data_loss, "byte offset 32: checksum " + hex(stored) +
                                     " does not match the content (" +
                                     hex(actual) + "): corrupt value");
  }
  // Zero in format 2: anything else is a writer of another format (found
  // by the fuzzer: such a value decoded, and wrote back different bytes).
  if (const auto reserved = get<std::uint32_t>(p + 36); reserved != 0) {
    return fail(errc::invalid_argument,
                "byte offset 36: reserved field " + hex(reserved) +
                    ", expected 0 (written by another format)");
  }
  return decoded_block{get<std::uint64_t>(p + 16), get<std::uint64_t>(p + 40),
                       value.subspan(block_header_bytes)};
}

void read_payload(std::span<const std::byte> payload, std::span<float> dst) {
  std::memcpy(dst.data(), payload.data(), dst.size_bytes());
}

}  // namespace emnist
