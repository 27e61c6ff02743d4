// The parameter block format: round trip, and every corruption detected
// with the key and the field named.
#include "runtime/store/block_codec.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "runtime/store/crc32c.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

std::vector<std::byte> sample_block(std::vector<float>& values) {
  values = {1.5f, -2.0f, 0.25f, 1e-20f, 3.0f};
  std::vector<std::byte> buffer;
  const auto value = encode_block({7, 42, 0xabcdef, 0x5eed}, values, buffer);
  return {value.begin(), value.end()};
}

std::string decode_error(const std::vector<std::byte>& value,
                         block_expectation expect = {7, 5, 0xabcdef}) {
  auto r = decode_block(value, expect, "emnist:j1:b:7");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message.find("parameter block 'emnist:j1:b:7'") == 0);
  return r.error().message;
}

bool has(const std::string& s, const char* part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("block_codec: crc32c known answer") {
  const char* text = "123456789";
  CHECK(crc32c(text, 9) == 0xe3069283u);  // the standard CRC-32C check value
  CHECK(crc32c(text + 4, 5, crc32c(text, 4)) == 0xe3069283u);
}

TEST_CASE("block_codec: crc32c of long inputs matches the bitwise definition") {
  // Long inputs take the three-chain path, joined by the zero-shift
  // tables; every length around the stretch boundaries and every split
  // point must give the plain bit-at-a-time CRC.
  auto bitwise = [](const unsigned char* p, std::size_t n) {
    std::uint32_t c = ~0u;
    for (std::size_t i = 0; i < n; ++i) {
      c ^= p[i];
      for (int k = 0; k < 8; ++k)
        c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1u)));
    }
    return ~c;
  };
  std::vector<unsigned char> data(3 * 8192 * 2 + 3 * 256 + 100);
  std::uint32_t x = 12345;
  for (auto& b : data) {
    x = x * 1664525u + 1013904223u;
    b = static_cast<unsigned char>(x >> 24);
  }
  for (std::size_t n : {std::size_t{767}, std::size_t{768}, std::size_t{769},
                        std::size_t{3 * 8192 - 1}, std::size_t{3 * 8192},
                        std::size_t{3 * 8192 + 3 * 256 + 7}, data.size()}) {
    for (std::size_t offset : {std::size_t{0}, std::size_t{3}}) {
      if (offset + n > data.size()) continue;
      CAPTURE(n);
      CAPTURE(offset);
      const auto want = bitwise(data.data() + offset, n);
      CHECK(crc32c(data.data() + offset, n) == want);
      const std::size_t half = n / 2 + 1;
      CHECK(crc32c(data.data() + offset + half, n - half,
                   crc32c(data.data() + offset, half)) == want);
    }
  }
}

TEST_CASE("block_codec: a sum encoded into a reused buffer decodes exactly") {
  // The buffer held a larger block before: the value is its front, with a
  // checksum over that front only.
  std::vector<std::byte> buffer;
  (void)encode_block({1, 0, 9}, std::vector<float>(100, 7.0f), buffer);
  const std::vector<float> base_values = {1.0f, 2.0f, 3.0f};
  std::vector<std::byte> base_buffer;
  const auto base = encode_block({3, 5, 9}, base_values, base_buffer);
  auto decoded = decode_block(base, {3, 3, 9}, "k");
  REQUIRE(decoded.has_value());
  const std::vector<float> delta = {0.5f, -2.0f, 1e-3f};
  const auto sum =
      encode_block_sum({3, 6, 9, 0x77}, decoded->payload, delta, buffer);
  CHECK(sum.size() == block_header_bytes + 3 * sizeof(float));
  CHECK(buffer.size() >= block_header_bytes + 100 * sizeof(float));
  auto r = decode_block(sum, {3, 3, 9}, "k");
  REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
  CHECK(r->version == 6);
  CHECK(r->writer == 0x77);
  std::vector<float> out(3);
  read_payload(r->payload, out);
  CHECK(out == std::vector<float>{1.5f, 0.0f, 3.001f});
}

TEST_CASE("block_codec: round trip") {
  std::vector<float> values;
  const auto bytes = sample_block(values);
  CHECK(bytes.size() == block_header_bytes + 5 * sizeof(float));
  auto r = decode_block(bytes, {7, 5, 0xabcdef}, "k");
  REQUIRE(r.has_value());
  CHECK(r->version == 42);
  CHECK(r->writer == 0x5eed);
  std::vector<float> back(5);
  read_payload(r->payload, back);
  CHECK(back == values);
}

TEST_CASE("block_codec: every corruption is detected and named") {
  std::vector<float> values;
  const auto good = sample_block(values);

  CHECK(
      has(decode_error(std::vector<std::byte>(good.begin(), good.begin() + 10)),
          "shorter than the 48-byte header"));
  auto bad = good;
  bad[0] = std::byte{'X'};
  CHECK(has(decode_error(bad), "not a parameter block"));
  bad = good;
  bad[4] = std::byte{9};
  CHECK(has(decode_error(bad), "format version 9"));
  CHECK(has(decode_error(good, {8, 5, 0xabcdef}), "block index 7, expected 8"));
  CHECK(has(decode_error(good, {7, 6, 0xabcdef}), "5 floats, expected 6"));
  CHECK(has(decode_error(good, {7, 5, 0x1234}), "another job"));
  bad = good;
  bad.pop_back();
  CHECK(has(decode_error(bad), "torn value"));
  bad = good;
  bad[block_header_bytes + 3] ^= std::byte{0x01};  // one bit of a float
  CHECK(has(decode_error(bad), "corrupt value"));
  bad = good;
  bad[16] ^= std::byte{0x01};  // the version, covered by the checksum too
  CHECK(has(decode_error(bad), "corrupt value"));
  bad = good;
  bad[40] ^= std::byte{0x01};  // the writer, likewise
  CHECK(has(decode_error(bad), "corrupt value"));
}
