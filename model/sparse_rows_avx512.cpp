// The loader's sparse minibatch with AVX-512 (F, BW, VL). CMake compiles
// this file with those flags; model/sparse_kernels.cpp calls it only on a
// processor that has them.
//
// Rows: a sample's nonzero pixels 16 at a step: the pixels' bytes widened
// to 16 lanes, the nonzero lanes' indices and scaled values packed to the
// front (compress) and stored whole, the end moved by their count (the
// scalar loop's branch and stores per nonzero pixel were a tenth of a
// job's CPU).
//
// Columns: pixel by pixel in order, so that every store is sequential (the
// counting sort from the rows scattered its stores over the whole batch
// and was another tenth of a job's CPU). Each sample's nonzero bytes as
// one 16-bit mask per 16 pixels (kept per 16 pixels, the samples side by
// side): bit b of 16 samples' masks, one test, says which of them have
// pixel 16c + b, and a cursor per sample into its row entries, moved on
// each time, says where their values are.
#include <immintrin.h>

#include <cstddef>
#include <cstdint>

#include "model/sparse_kernels_isa.hpp"

namespace emnist::kernels::avx512 {

std::uint32_t append_nonzeros(const std::uint8_t* image, std::size_t features,
                              float scale, std::uint16_t* pixels, float* values,
                              std::uint32_t at) {
  const __m512i lanes =
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512 by = _mm512_set1_ps(scale);
  for (std::size_t p = 0; p < features; p += 16) {
    // The last step reads only the pixels left (a masked load).
    const std::size_t left = features - p;
    const __mmask16 keep = left >= 16
                               ? __mmask16{0xffff}
                               : static_cast<__mmask16>((1u << left) - 1u);
    const __m128i bytes = _mm_maskz_loadu_epi8(keep, image + p);
    if (_mm_testz_si128(bytes, bytes) != 0) continue;  // a blank border
    const __m512i v = _mm512_cvtepu8_epi32(bytes);
    const __mmask16 nonzero = _mm512_test_epi32_mask(v, v);
    const __m512i index =
        _mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(p)));
    _mm256_storeu_si256(
        reinterpret_cast<__m256i*>(pixels + at),
        _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(nonzero, index)));
    _mm512_storeu_ps(values + at,
                     _mm512_maskz_compress_ps(
                         nonzero, _mm512_mul_ps(_mm512_cvtepi32_ps(v), by)));
    at += static_cast<std::uint32_t>(
        __builtin_popcount(static_cast<unsigned>(nonzero)));
  }
  return at;
}

std::size_t columns(const std::uint8_t* const* images, std::size_t n,
                    std::size_t features, const std::uint32_t* row_starts,
                    const float* row_values, std::uint16_t* pixels,
                    std::uint32_t* starts, std::uint16_t* rows_of,
                    float* values, std::uint16_t* masks,
                    std::uint32_t* cursors) {
  const std::size_t chunks = (features + 15) / 16;
  const std::size_t np = (n + 31) / 32 * 32;  // a chunk's samples, padded
  // Each sample's nonzero pixels of each chunk, and where the chunk's
  // first one sits among the sample's row entries (its cursor).
  for (std::size_t r = 0; r < np; ++r) {
    if (r >= n) {
      for (std::size_t c = 0; c < chunks; ++c) {
        masks[c * np + r] = 0;
        cursors[c * np + r] = 0;
      }
      continue;
    }
    const std::uint8_t* image = images[r];
    std::uint32_t at = row_starts[r];
    for (std::size_t c = 0; c < chunks; ++c) {
      const std::size_t left = features - c * 16;
      const __mmask16 keep = left >= 16
                                 ? __mmask16{0xffff}
                                 : static_cast<__mmask16>((1u << left) - 1u);
      const __m128i bytes = _mm_maskz_loadu_epi8(keep, image + c * 16);
      const __mmask16 nonzero = _mm_test_epi8_mask(bytes, bytes);
      masks[c * np + r] = nonzero;
      cursors[c * np + r] = at;
      at += static_cast<std::uint32_t>(
          __builtin_popcount(static_cast<unsigned>(nonzero)));
    }
  }
  // Pixel by pixel, 16 samples a step: those with the pixel (bit b of
  // their masks), their values gathered at their cursors (which then move
  // on for them), both packed to the front and stored whole.
  const __m512i lanes =
      _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m512i one = _mm512_set1_epi32(1);
  std::size_t active = 0;
  std::uint32_t offset = 0;
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::uint16_t* chunk_masks = masks + c * np;
    std::uint32_t* chunk_cursors = cursors + c * np;
    for (std::size_t b = 0; b < 16 && c * 16 + b < features; ++b) {
      const __m512i bit = _mm512_set1_epi32(1 << b);
      const std::uint32_t first = offset;
      for (std::size_t h = 0; h < np; h += 16) {
        const __m512i m = _mm512_cvtepu16_epi32(_mm256_loadu_si256(
            reinterpret_cast<const __m256i*>(chunk_masks + h)));
        const __mmask16 have = _mm512_test_epi32_mask(m, bit);
        if (have == 0) continue;
        std::uint32_t* at = chunk_cursors + h;
        const __m512i where = _mm512_loadu_si512(at);
        const __m512 v = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), have,
                                                  where, row_values, 4);
        _mm512_storeu_ps(values + offset, _mm512_maskz_compress_ps(have, v));
        const __m512i samples =
            _mm512_add_epi32(lanes, _mm512_set1_epi32(static_cast<int>(h)));
        _mm256_storeu_si256(
            reinterpret_cast<__m256i*>(rows_of + offset),
            _mm512_cvtepi32_epi16(_mm512_maskz_compress_epi32(have, samples)));
        _mm512_storeu_si512(at, _mm512_mask_add_epi32(where, have, where, one));
        offset += static_cast<std::uint32_t>(
            __builtin_popcount(static_cast<unsigned>(have)));
      }
      if (offset != first) {
        pixels[active] = static_cast<std::uint16_t>(c * 16 + b);
        starts[active] = first;
        ++active;
      }
    }
  }
  starts[active] = offset;
  return active;
}

}  // namespace emnist::kernels::avx512
