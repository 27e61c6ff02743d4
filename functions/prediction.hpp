// What a model says about one image, as both `emnist predict` and the
// emnist-predict function answer it:
//   [{"class": 10, "label": "A", "probability": 0.93}, ...]  best first.
// And the two ways an image arrives: a PNG file, or JSON
// {"pixels": [784 numbers 0-255, upright rows of 28]}.
#pragma once

#include <boost/json/array.hpp>
#include <cstddef>
#include <span>
#include <string>

#include "base/expected.hpp"
#include "model/emnist_image.hpp"
#include "runtime/data/cpu_budget.hpp"
#include "runtime/data/model_file.hpp"

namespace emnist {

/// The `top` most probable classes of `sample`, best first.
[[nodiscard]] boost::json::array predictions_of(const saved_model& model,
                                                const emnist_sample& sample,
                                                std::size_t top);

/// A PNG file brought to EMNIST's form; errors name `name`. The decode
/// stops once `budget` is spent.
[[nodiscard]] expected<emnist_sample> sample_of_png(
    std::span<const std::byte> file, const std::string& name,
    std::size_t max_pixels, const cpu_budget& budget = {});

/// {"pixels": [784 numbers 0-255]}: an upright 28x28 image, row by row
/// (a drawing canvas's), brought to EMNIST's form like a PNG.
[[nodiscard]] expected<emnist_sample> sample_of_pixels_json(
    const std::string& body);

}  // namespace emnist
