// One pass over the pixels, each across the whole batch, writing without
// branches (a third of the pixels are nonzero, in no predictable pattern).
#include "model/sparse_batch.hpp"

#include <cstring>

namespace emnist {

void sparse_batch::reserve(std::size_t max_rows, std::size_t feature_count) {
  pixels.resize(feature_count);
  starts.resize(feature_count + 1);
  // One spare entry: the branch-free loop writes one past the last nonzero.
  rows_of.resize(max_rows * feature_count + 1);
  values.resize(max_rows * feature_count + 1);
  row_starts.resize(max_rows + 1);
  row_pixels.resize(max_rows * feature_count);
  row_values.resize(max_rows * feature_count);
}

void sparse_batch::assign(const std::uint8_t* const* images, std::size_t n,
                          std::size_t feature_count) {
  constexpr float scale = 1.0f / 255.0f;
  rows = n;
  features = feature_count;
  pixels.resize(feature_count);  // within the reserved capacity
  starts.resize(feature_count + 1);
  std::uint32_t at = 0;
  std::size_t active = 0;
  std::size_t p = 0;
  while (p < feature_count) {
    // The border of every image is zero: skip 8 pixels zero in all samples.
    if (p + 8 <= feature_count) {
      std::uint64_t any = 0;
      for (std::size_t r = 0; r < n; ++r) {
        std::uint64_t word;
        std::memcpy(&word, images[r] + p, 8);
        any |= word;
      }
      if (any == 0) {
        p += 8;
        continue;
      }
    }
    const std::size_t end = std::min(p + 8, feature_count);
    for (; p < end; ++p) {
      const std::uint32_t start = at;
      for (std::size_t r = 0; r < n; ++r) {
        const std::uint8_t v = images[r][p];
        rows_of[at] = static_cast<std::uint16_t>(r);
        values[at] = static_cast<float>(v) * scale;
        at += v != 0;
      }
      if (at != start) {
        pixels[active] = static_cast<std::uint16_t>(p);
        starts[active] = start;
        ++active;
      }
    }
  }
  starts[active] = at;
  pixels.resize(active);
  starts.resize(active + 1);
  transpose();
}

void sparse_batch::transpose() {
  // Counting sort of the nonzeros by sample; taken pixel by pixel, each
  // sample's pixels come out ascending.
  row_starts.assign(rows + 1, 0);
  const auto n = static_cast<std::uint32_t>(nonzeros());
  for (std::uint32_t e = 0; e < n; ++e) ++row_starts[rows_of[e] + 1u];
  for (std::size_t r = 0; r < rows; ++r) row_starts[r + 1] += row_starts[r];
  for (std::size_t k = 0; k < pixels.size(); ++k) {
    for (std::uint32_t e = starts[k]; e < starts[k + 1]; ++e) {
      const std::uint32_t at = row_starts[rows_of[e]]++;
      row_pixels[at] = pixels[k];
      row_values[at] = values[e];
    }
  }
  // The scatter moved each start to the next sample's: shift them back.
  for (std::size_t r = rows; r > 0; --r) row_starts[r] = row_starts[r - 1];
  row_starts[0] = 0;
}

}  // namespace emnist
