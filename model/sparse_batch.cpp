// CSR in one pass over the pixels; CSC from it by a counting sort.
#include "model/sparse_batch.hpp"

#include <algorithm>
#include <cstring>

namespace emnist {
namespace {

/// Appends the nonzero pixels of one image; returns the new end.
std::uint32_t append_row(const std::uint8_t* img, std::size_t features,
                         std::uint16_t* pixel, float* value,
                         std::uint32_t at) {
  constexpr float scale = 1.0f / 255.0f;
  std::size_t p = 0;
  // Most of an image's border is zero: skip 8 zero pixels at a time.
  for (; p + 8 <= features; p += 8) {
    std::uint64_t word;
    std::memcpy(&word, img + p, 8);
    if (word == 0) continue;
    // Branch-free: always write, advance only past a nonzero (a third of
    // the pixels, in no predictable pattern).
    for (std::size_t q = p; q < p + 8; ++q) {
      pixel[at] = static_cast<std::uint16_t>(q);
      value[at] = static_cast<float>(img[q]) * scale;
      at += img[q] != 0;
    }
  }
  for (; p < features; ++p) {
    if (img[p] == 0) continue;
    pixel[at] = static_cast<std::uint16_t>(p);
    value[at] = static_cast<float>(img[p]) * scale;
    ++at;
  }
  return at;
}

}  // namespace

void sparse_batch::reserve(std::size_t max_rows, std::size_t feature_count) {
  row_start.resize(max_rows + 1);
  row_pixel.resize(max_rows * feature_count);
  row_value.resize(max_rows * feature_count);
  pixels.resize(feature_count);
  pixel_start.resize(feature_count + 1);
  pixel_row.resize(max_rows * feature_count);
  pixel_value.resize(max_rows * feature_count);
  count_.resize(feature_count);
}

void sparse_batch::assign(const std::uint8_t* const* images, std::size_t n,
                          std::size_t feature_count) {
  rows = n;
  features = feature_count;
  std::uint32_t at = 0;
  for (std::size_t r = 0; r < n; ++r) {
    row_start[r] = at;
    at = append_row(images[r], feature_count, row_pixel.data(),
                    row_value.data(), at);
  }
  row_start[n] = at;
  build_by_pixel();
}

void sparse_batch::assign_contiguous(const std::uint8_t* first, std::size_t n,
                                     std::size_t feature_count) {
  rows = n;
  features = feature_count;
  std::uint32_t at = 0;
  for (std::size_t r = 0; r < n; ++r) {
    row_start[r] = at;
    at = append_row(first + r * feature_count, feature_count, row_pixel.data(),
                    row_value.data(), at);
  }
  row_start[n] = at;
}

void sparse_batch::build_by_pixel() {
  std::fill(count_.begin(), count_.begin() + static_cast<std::ptrdiff_t>(features),
            0u);
  const std::uint32_t total = row_start[rows];
  for (std::uint32_t e = 0; e < total; ++e) ++count_[row_pixel[e]];
  // count_ becomes each active pixel's write position.
  pixels.resize(features);  // within the reserved capacity: no allocation
  pixel_start.resize(features + 1);
  std::size_t active = 0;
  std::uint32_t offset = 0;
  for (std::size_t p = 0; p < features; ++p) {
    const std::uint32_t c = count_[p];
    if (c == 0) continue;
    pixels[active] = static_cast<std::uint16_t>(p);
    pixel_start[active] = offset;
    ++active;
    count_[p] = offset;
    offset += c;
  }
  pixel_start[active] = offset;
  pixels.resize(active);
  pixel_start.resize(active + 1);
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::uint32_t e = row_start[r]; e < row_start[r + 1]; ++e) {
      const std::uint32_t at = count_[row_pixel[e]]++;
      pixel_row[at] = static_cast<std::uint16_t>(r);
      pixel_value[at] = row_value[e];
    }
  }
}

}  // namespace emnist
