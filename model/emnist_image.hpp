// Any upright picture of one character brought to the form of an EMNIST
// sample, as EMNIST was made from NIST's scans (Cohen et al., 2017): a dark
// background and a light character; the character's bounding box centred
// in a square frame, aspect ratio kept, with a 2-pixel border at 28x28;
// intensities stretched to 0-255; then stored transposed, as the IDX files
// hold every image.
//
//   grey_image upright{w, h, pixels};          // row-major, 0 = black
//   auto sample = to_emnist_sample(upright);   // 784 bytes, IDX order
//   auto p = class_probabilities(shape, params, scale, *sample);
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "base/expected.hpp"
#include "model/mlp.hpp"

namespace emnist {

/// An 8-bit grey image, row-major, one byte a pixel (0 black, 255 white).
struct grey_image {
  std::size_t width = 0;
  std::size_t height = 0;
  std::vector<std::uint8_t> pixels;  ///< width * height
};

inline constexpr std::size_t emnist_side = 28;
using emnist_sample = std::array<std::uint8_t, emnist_side * emnist_side>;

/// The EMNIST form of an upright image with a light or dark background
/// (the one its border has most of). Errors: an empty image, or one with
/// no character (every pixel the background's shade).
[[nodiscard]] expected<emnist_sample> to_emnist_sample(const grey_image& image);

/// The network's probability of each class for one sample:
/// softmax(tanh((pixels * input_scale) w1) w2), w1 and w2 row-major as
/// training keeps them (`params`: w1 then w2).
[[nodiscard]] std::vector<float> class_probabilities(
    const mlp_shape& shape, std::span<const float> params, float input_scale,
    std::span<const std::uint8_t> sample);

}  // namespace emnist
