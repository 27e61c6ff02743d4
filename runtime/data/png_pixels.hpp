// A PNG's pixels as the file holds them, 8 bits a channel, before they are
// made grey: what both PNG readers (png_fast_reader, and libpng's in
// png_image.cpp) give, so that they can be compared sample for sample.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace emnist {

struct png_pixels {
  std::size_t width = 0;
  std::size_t height = 0;
  bool colour = false;  ///< R, G, B channels, else one grey channel
  bool alpha = false;   ///< an opacity channel after them
  /// Rows top to bottom, pixels left to right, channels interleaved.
  std::vector<std::uint8_t> samples;

  [[nodiscard]] std::size_t channels() const {
    return (colour ? 3u : 1u) + (alpha ? 1u : 0u);
  }
};

}  // namespace emnist
