// CRC-32C: hardware where available, else a byte-wise table.
//
// The crc32 instruction takes 3 cycles and can start one every cycle, so a
// single chain of them runs at a third of the unit's speed. Long inputs
// are therefore cut into three stretches whose CRCs are computed together
// (three independent chains) and then joined: the CRC register is linear
// over GF(2), so the register after A||B is the register after A advanced
// over len(B) zero bytes, xor the register of B alone. Advancing over a
// fixed number of zero bytes is a 32x32 bit matrix, applied through four
// 256-entry tables built once.
#include "runtime/store/crc32c.hpp"

#include <array>
#include <cstring>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#endif

namespace emnist {
namespace {

constexpr std::uint32_t polynomial = 0x82f63b78u;  // reflected Castagnoli

[[maybe_unused]] const std::array<std::uint32_t, 256>& table() {
  static const auto t = [] {
    std::array<std::uint32_t, 256> out{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (polynomial & (0u - (c & 1u)));
      out[i] = c;
    }
    return out;
  }();
  return t;
}

#if defined(__SSE4_2__)

/// A linear map of CRC registers, as the images of the 32 unit vectors.
using gf2_matrix = std::array<std::uint32_t, 32>;

std::uint32_t apply(const gf2_matrix& m, std::uint32_t v) {
  std::uint32_t out = 0;
  for (int i = 0; v != 0; ++i, v >>= 1)
    if (v & 1u) out ^= m[static_cast<std::size_t>(i)];
  return out;
}

gf2_matrix compose(const gf2_matrix& a, const gf2_matrix& b) {  // a after b
  gf2_matrix out{};
  for (std::size_t i = 0; i < 32; ++i) out[i] = apply(a, b[i]);
  return out;
}

/// The map of the register over `bytes` zero bytes.
gf2_matrix zeros_operator(std::size_t bytes) {
  gf2_matrix bit{};  // one zero bit
  bit[0] = polynomial;
  for (std::size_t i = 1; i < 32; ++i) bit[i] = 1u << (i - 1);
  gf2_matrix result{};
  for (std::size_t i = 0; i < 32; ++i) result[i] = 1u << i;  // identity
  gf2_matrix power = compose(compose(bit, bit), compose(bit, bit));
  power = compose(power, power);  // eight bits: one byte
  for (; bytes != 0; bytes >>= 1) {
    if (bytes & 1u) result = compose(power, result);
    power = compose(power, power);
  }
  return result;
}

/// The zeros operator as four byte-indexed tables, for four lookups.
struct shift_tables {
  std::array<std::array<std::uint32_t, 256>, 4> t{};
  explicit shift_tables(std::size_t bytes) {
    const auto m = zeros_operator(bytes);
    for (std::uint32_t k = 0; k < 4; ++k)
      for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = apply(m, b << (8 * k));
  }
  std::uint32_t operator()(std::uint32_t crc) const {
    return t[0][crc & 0xffu] ^ t[1][(crc >> 8) & 0xffu] ^
           t[2][(crc >> 16) & 0xffu] ^ t[3][crc >> 24];
  }
};

// Stretch lengths: long for the bulk of a block, short for its rest.
constexpr std::size_t long_stretch = 8192;
constexpr std::size_t short_stretch = 256;

/// Three chains over consecutive stretches of `len` bytes each, joined.
std::uint64_t three_way(const unsigned char*& p, std::size_t& n,
                        std::uint64_t c0, std::size_t len,
                        const shift_tables& shift) {
  while (n >= 3 * len) {
    std::uint64_t c1 = 0;
    std::uint64_t c2 = 0;
    const unsigned char* end = p + len;
    for (; p < end; p += 8) {
      std::uint64_t w0, w1, w2;
      std::memcpy(&w0, p, 8);
      std::memcpy(&w1, p + len, 8);
      std::memcpy(&w2, p + 2 * len, 8);
      c0 = _mm_crc32_u64(c0, w0);
      c1 = _mm_crc32_u64(c1, w1);
      c2 = _mm_crc32_u64(c2, w2);
    }
    c0 = shift(static_cast<std::uint32_t>(c0)) ^ c1;
    c0 = shift(static_cast<std::uint32_t>(c0)) ^ c2;
    p += 2 * len;
    n -= 3 * len;
  }
  return c0;
}

#endif

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t n, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  crc = ~crc;
#if defined(__SSE4_2__)
  static const shift_tables shift_long(long_stretch);
  static const shift_tables shift_short(short_stretch);
  std::uint64_t c = crc;
  c = three_way(p, n, c, long_stretch, shift_long);
  c = three_way(p, n, c, short_stretch, shift_short);
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = _mm_crc32_u64(c, word);
  }
  crc = static_cast<std::uint32_t>(c);
  for (; n > 0; --n, ++p) crc = _mm_crc32_u8(crc, *p);
#else
  for (; n > 0; --n, ++p) crc = table()[(crc ^ *p) & 0xffu] ^ (crc >> 8);
#endif
  return ~crc;
}

}  // namespace emnist
