// The rows straight from the images (SSE2 finds a row's nonzero pixels 16 at
// a time), then the columns from the rows by a counting sort.
#include "model/sparse_batch.hpp"

#include <algorithm>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace emnist {
namespace {

constexpr float pixel_scale = 1.0f / 255.0f;

/// Appends the nonzero pixels of `image` (their indices and scaled values)
/// at `at`; returns the new end.
std::uint32_t append_nonzeros(const std::uint8_t* image, std::size_t features,
                              std::uint16_t* pixels, float* values,
                              std::uint32_t at) {
  std::size_t p = 0;
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  for (; p + 16 <= features; p += 16) {
    const __m128i v =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(image + p));
    unsigned nonzero =
        ~static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero))) &
        0xffffu;
    while (nonzero != 0) {
      const auto bit = static_cast<std::size_t>(__builtin_ctz(nonzero));
      nonzero &= nonzero - 1;
      pixels[at] = static_cast<std::uint16_t>(p + bit);
      values[at] = static_cast<float>(image[p + bit]) * pixel_scale;
      ++at;
    }
  }
#endif
  for (; p < features; ++p) {
    if (image[p] == 0) continue;
    pixels[at] = static_cast<std::uint16_t>(p);
    values[at] = static_cast<float>(image[p]) * pixel_scale;
    ++at;
  }
  return at;
}

}  // namespace

void sparse_batch::reserve(std::size_t max_rows, std::size_t feature_count) {
  pixels.resize(feature_count);
  starts.resize(feature_count + 1);
  rows_of.resize(max_rows * feature_count);
  values.resize(max_rows * feature_count);
  row_starts.resize(max_rows + 1);
  row_pixels.resize(max_rows * feature_count);
  row_values.resize(max_rows * feature_count);
  slot_next_.resize(feature_count);
}

void sparse_batch::assign_rows(const std::uint8_t* const* images, std::size_t n,
                               std::size_t feature_count) {
  rows = n;
  features = feature_count;
  row_starts.resize(n + 1);  // within the reserved capacity
  std::uint32_t at = 0;
  for (std::size_t r = 0; r < n; ++r) {
    row_starts[r] = at;
    at = append_nonzeros(images[r], feature_count, row_pixels.data(),
                         row_values.data(), at);
  }
  row_starts[n] = at;
}

void sparse_batch::assign(const std::uint8_t* const* images, std::size_t n,
                          std::size_t feature_count) {
  assign_rows(images, n, feature_count);
  // Counting sort by pixel: count, then each active pixel's start, then
  // scatter sample by sample (so each pixel's samples come out ascending).
  starts.assign(feature_count + 1, 0);  // within the reserved capacity
  const std::uint32_t total = row_starts[n];
  for (std::uint32_t e = 0; e < total; ++e) ++starts[row_pixels[e]];
  pixels.resize(feature_count);
  std::size_t active = 0;
  std::uint32_t offset = 0;
  for (std::size_t p = 0; p < feature_count; ++p) {
    const std::uint32_t count = starts[p];
    if (count == 0) continue;
    pixels[active] = static_cast<std::uint16_t>(p);
    starts[active] = offset;  // active <= p: slot p was read already
    offset += count;
    ++active;
  }
  starts[active] = offset;
  // The next free place of each active pixel, indexed by pixel.
  std::uint32_t* next = slot_next_.data();
  for (std::size_t k = 0; k < active; ++k) next[pixels[k]] = starts[k];
  for (std::size_t r = 0; r < n; ++r) {
    for (std::uint32_t e = row_starts[r]; e < row_starts[r + 1]; ++e) {
      const std::uint32_t to = next[row_pixels[e]]++;
      rows_of[to] = static_cast<std::uint16_t>(r);
      values[to] = row_values[e];
    }
  }
  pixels.resize(active);
  starts.resize(active + 1);
}

}  // namespace emnist
