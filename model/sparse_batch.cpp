// The rows straight from the images (kernels::append_nonzeros finds a row's
// nonzero pixels 16 at a time), then the columns from the rows by a
// counting sort.
#include "model/sparse_batch.hpp"

#include <algorithm>
#include <cstring>

#include "model/sparse_kernels.hpp"

namespace emnist {
namespace {

constexpr float pixel_scale = 1.0f / 255.0f;

}  // namespace

void sparse_batch::reserve(std::size_t max_rows, std::size_t feature_count) {
  pixels.resize(feature_count);
  starts.resize(feature_count + 1);
  // The kernels may store past the last nonzero (nonzeros_slack).
  rows_of.resize(max_rows * feature_count + kernels::nonzeros_slack);
  values.resize(max_rows * feature_count + kernels::nonzeros_slack);
  row_starts.resize(max_rows + 1);
  row_pixels.resize(max_rows * feature_count + kernels::nonzeros_slack);
  row_values.resize(max_rows * feature_count + kernels::nonzeros_slack);
  slot_next_.resize(feature_count);
  masks_.resize(kernels::column_scratch_size(max_rows, feature_count));
  cursors_.resize(masks_.size());
}

void sparse_batch::assign_rows(const std::uint8_t* const* images, std::size_t n,
                               std::size_t feature_count) {
  rows = n;
  features = feature_count;
  row_starts.resize(n + 1);  // within the reserved capacity
  std::uint32_t at = 0;
  // The images are samples drawn at random from the data: each one's lines
  // come from memory. Asking for the next one's while this one is scanned
  // hides most of that wait.
  constexpr std::size_t line = 64;
  for (std::size_t r = 0; r < n; ++r) {
    if (r + 1 < n) {
      for (std::size_t b = 0; b < feature_count; b += line) {
        __builtin_prefetch(images[r + 1] + b);
      }
    }
    row_starts[r] = at;
    at = kernels::append_nonzeros(images[r], feature_count, pixel_scale,
                                  row_pixels.data(), row_values.data(), at);
  }
  row_starts[n] = at;
}

void sparse_batch::assign(const std::uint8_t* const* images, std::size_t n,
                          std::size_t feature_count) {
  assign_rows(images, n, feature_count);
  pixels.resize(feature_count);  // within the reserved capacity
  starts.resize(feature_count + 1);
  if (kernels::build_columns(images, *this, masks_.data(), cursors_.data())) {
    return;
  }
  // Counting sort by pixel: count, then each active pixel's start, then
  // scatter sample by sample (so each pixel's samples come out ascending).
  std::fill(starts.begin(), starts.end(), 0u);
  const std::uint32_t total = row_starts[n];
  for (std::uint32_t e = 0; e < total; ++e) ++starts[row_pixels[e]];
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
