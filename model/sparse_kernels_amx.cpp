// The evaluator's product on AMX tiles: out = X W1 for whole images, where
// X is the images' bytes (0-255, exact in bf16) and W1 comes packed by
// kernels::tile_product::pack as three bf16 parts whose sum is W1 exactly.
// Every product of a byte and a part is exact in float; the tile unit adds
// them up in float, so the result differs from the vector kernels' only in
// the order of the sums. CMake compiles this file with AMX and AVX-512 flags;
// model/sparse_kernels.cpp calls it only when the processor has them and
// Linux has granted this process the tile state.
//
// Layout (kp = inputs rounded up to 32, k-tile t covers pixels 32t..32t+31,
// column tile j covers hidden units 16j..16j+15):
//   A: 32 images x kp bf16, row-major (two 16-row tiles a k-tile), twice:
//      the pass the tiles work on and the next one;
//   B: tile (part, t, j) at ((part * k_tiles + t) * col_tiles + j) * 512
//      bf16: 16 rows of pixel pairs, each 16 columns x 2 pixels (the pair
//      layout TDPBF16PS reads);
//   C: two 16-row blocks x two column tiles of float sums.
// Tile registers: 0-3 sums, 4-5 images, 6-7 parts of W1.
//
// Everything here has internal linkage or plain C types at the boundary and
// calls no inline function of std (see model/sparse_kernels_isa.hpp).
#include <immintrin.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "model/sparse_kernels_isa.hpp"

namespace emnist::kernels::amx {
namespace {

constexpr int block_rows = 16;
constexpr int tile_bytes = 64;

/// The tile configuration: every tile 16 rows of 64 bytes.
struct alignas(64) tile_config {
  std::uint8_t palette = 1;
  std::uint8_t start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

tile_config make_config() {
  tile_config c;
  for (int t = 0; t < 8; ++t) {
    c.colsb[t] = tile_bytes;
    c.rows[t] = block_rows;
  }
  return c;
}

/// Row r of A from an image: each byte as bf16 (its float's upper half,
/// exact for 0-255), zeros past `inputs` up to kp; marks the k-tiles where
/// the image has a nonzero pixel in `nonzero` (one byte a k-tile).
void to_bf16(const std::uint8_t* image, std::size_t inputs, std::size_t kp,
             std::uint16_t* row, std::uint8_t* nonzero) {
  std::size_t p = 0;
  for (; p < kp; p += 16) {
    const std::size_t left = p < inputs ? inputs - p : 0;
    const __mmask16 keep = left >= 16
                               ? __mmask16{0xffff}
                               : static_cast<__mmask16>((1u << left) - 1u);
    const __m128i bytes = _mm_maskz_loadu_epi8(keep, image + p);
    nonzero[p / 32] |= _mm_test_epi8_mask(bytes, bytes) != 0 ? 1 : 0;
    const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
    const __m512i upper = _mm512_srli_epi32(_mm512_castps_si512(f), 16);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(row + p),
                        _mm512_cvtepi32_epi16(upper));
  }
}

/// Images still to be turned into A while the tiles work on the current
/// ones: their loads and conversion, a third of the time when they ran
/// apart, overlap the tile products (the next pass's A is double-buffered).
struct pending_images {
  const std::uint8_t* const* images = nullptr;
  std::size_t count = 0;  ///< rows from `images`; zeros up to 32
  std::uint16_t* a = nullptr;
  /// 1 for each k-tile where one of the images has a nonzero pixel: the
  /// others add nothing (EMNIST's borders: about one k-tile in twelve).
  std::uint8_t* active = nullptr;
  std::size_t inputs = 0, kp = 0;

  /// Rows [from, to) of this A (from 0 up, in order).
  void convert(std::size_t from, std::size_t to) const {
    if (from == 0) std::memset(active, 0, kp / 32);
    for (std::size_t r = from; r < to; ++r) {
      if (r < count) {
        to_bf16(images[r], inputs, kp, a + r * kp, active);
      } else {
        std::memset(a + r * kp, 0, kp * sizeof(std::uint16_t));
      }
    }
  }
};

/// The sums of one pair of column tiles (j, j + 1; only j when `two` is
/// false) for the 32 images of `now`, into c (32 rows of c_stride bytes),
/// skipping the k-tiles where they are all zero; turns `next` into the next
/// pass's A meanwhile, a few rows a k-tile, when it is set.
template <bool two>
void column_pair(const pending_images& now, const std::uint16_t* b,
                 std::size_t k_tiles, std::size_t col_tiles, std::size_t j,
                 float* c, std::size_t c_stride, const pending_images* next) {
  const std::uint16_t* a = now.a;
  const std::size_t kp = now.kp;
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  const std::size_t a_stride = kp * sizeof(std::uint16_t);
  const std::size_t part_tiles = k_tiles * col_tiles;
  constexpr std::size_t pass_rows = 2 * block_rows;
  for (std::size_t t = 0; t < k_tiles; ++t) {
    if (next != nullptr) {
      next->convert(t * pass_rows / k_tiles, (t + 1) * pass_rows / k_tiles);
    }
    if (now.active[t] == 0) continue;
    _tile_loadd(4, a + t * 32, a_stride);
    _tile_loadd(5, a + block_rows * kp + t * 32, a_stride);
    for (std::size_t part = 0; part < 3; ++part) {
      const std::uint16_t* bt =
          b + (part * part_tiles + t * col_tiles + j) * 512;
      _tile_loadd(6, bt, tile_bytes);
      _tile_dpbf16ps(0, 4, 6);
      _tile_dpbf16ps(2, 5, 6);
      if constexpr (two) {
        _tile_loadd(7, bt + 512, tile_bytes);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(3, 5, 7);
      }
    }
  }
  char* to = reinterpret_cast<char*>(c + j * 16);
  _tile_stored(0, to, c_stride);
  _tile_stored(2, to + block_rows * c_stride, c_stride);
  if constexpr (two) {
    _tile_stored(1, to + 64, c_stride);
    _tile_stored(3, to + 64 + block_rows * c_stride, c_stride);
  }
}

}  // namespace

void forward_tiles(const std::uint8_t* const* images, std::size_t rows,
                   std::size_t inputs, const std::uint16_t* b, std::size_t h,
                   float scale, float* out, const tile_scratch& scratch) {
  constexpr std::size_t pass_rows = 2 * block_rows;
  const std::size_t kp = (inputs + 31) / 32 * 32;
  const std::size_t k_tiles = kp / 32;
  const std::size_t hp = (h + 15) / 16 * 16;
  const std::size_t col_tiles = hp / 16;
  const std::size_t c_stride = hp * sizeof(float);
  auto pass = [&](std::size_t r0) {
    const std::size_t n = rows - r0 < pass_rows ? rows - r0 : pass_rows;
    const std::size_t buffer = r0 / pass_rows % 2;
    return pending_images{images + r0,
                          n,
                          scratch.a + buffer * pass_rows * kp,
                          scratch.active + buffer * k_tiles,
                          inputs,
                          kp};
  };
  const tile_config config = make_config();
  _tile_loadconfig(&config);
  pass(0).convert(0, pass_rows);
  for (std::size_t r0 = 0; r0 < rows; r0 += pass_rows) {
    const pending_images now = pass(r0);
    const bool more = r0 + pass_rows < rows;
    const pending_images next = more ? pass(r0 + pass_rows) : pending_images{};
    std::size_t j = 0;
    for (; j + 2 <= col_tiles; j += 2) {
      column_pair<true>(now, b, k_tiles, col_tiles, j, scratch.c, c_stride,
                        more && j == 0 ? &next : nullptr);
    }
    if (j < col_tiles) {
      column_pair<false>(now, b, k_tiles, col_tiles, j, scratch.c, c_stride,
                         more && j == 0 ? &next : nullptr);
    }
    const __m512 s = _mm512_set1_ps(scale);
    for (std::size_t r = 0; r < now.count; ++r) {
      for (std::size_t k = 0; k < hp; k += 16) {
        _mm512_storeu_ps(
            out + (r0 + r) * hp + k,
            _mm512_mul_ps(_mm512_loadu_ps(scratch.c + r * hp + k), s));
      }
    }
  }
  _tile_release();
}

}  // namespace emnist::kernels::amx
