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
}

}  // namespace emnist
