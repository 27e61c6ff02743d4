// Background from the border, the character's bounding box, an area-average
// resampling into the 24x24 centre of a 28x28 frame, a contrast stretch and
// the transpose. Area averaging stands in for EMNIST's Gaussian blur and
// bicubic downsampling: both keep the strokes' sub-pixel coverage.
#include "model/emnist_image.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

namespace emnist {
namespace {

/// The character's larger side at 28x28: a 2-pixel border on each side.
constexpr double inner_side = 24.0;

/// How each of the 28 target pixels of one axis averages the source: target
/// pixel t covers [centre + (t - 14) / scale, ... + 1 / scale) of a source
/// of n pixels (pixel i covering [i, i+1)), and takes the mean over that
/// interval, 0 outside the source. The same for every row (or column), so
/// it is worked out once: source indices and weights, flat.
struct axis_weights {
  std::array<std::uint32_t, emnist_side + 1> offset{};  ///< into index/weight
  std::vector<std::uint32_t> index;
  std::vector<float> weight;
  std::size_t first = 0, last = 0;  ///< the source pixels any target reads

  axis_weights(std::size_t n, double centre, double scale) {
    first = n;
    for (std::size_t t = 0; t < emnist_side; ++t) {
      offset[t] = static_cast<std::uint32_t>(index.size());
      const double a = centre + (static_cast<double>(t) - 14.0) / scale;
      const double b = a + 1.0 / scale;
      const auto lo = std::max<std::ptrdiff_t>(
          static_cast<std::ptrdiff_t>(std::floor(a)), 0);
      const auto hi =
          std::min<std::ptrdiff_t>(static_cast<std::ptrdiff_t>(std::ceil(b)),
                                   static_cast<std::ptrdiff_t>(n));
      for (auto i = lo; i < hi; ++i) {
        const double covered = std::min(b, static_cast<double>(i + 1)) -
                               std::max(a, static_cast<double>(i));
        if (covered <= 0) continue;
        index.push_back(static_cast<std::uint32_t>(i));
        weight.push_back(static_cast<float>(covered * scale));
        first = std::min(first, static_cast<std::size_t>(i));
        last = std::max(last, static_cast<std::size_t>(i) + 1);
      }
    }
    offset[emnist_side] = static_cast<std::uint32_t>(index.size());
    if (first > last) first = last;
  }

  /// Target pixel t of a source line read through `at(i)`.
  template <class At>
  float sample(std::size_t t, At at) const {
    float sum = 0;
    for (auto k = offset[t]; k < offset[t + 1]; ++k) {
      sum += weight[k] * at(index[k]);
    }
    return sum;
  }
};

}  // namespace

expected<emnist_sample> to_emnist_sample(const grey_image& image) {
  const std::size_t w = image.width, h = image.height;
  if (w == 0 || h == 0 || image.pixels.size() != w * h) {
    return make_error(errc::invalid_argument, "the image is empty");
  }
  const std::uint8_t* px = image.pixels.data();
  // The background: the median shade of the border.
  std::vector<std::uint8_t> border;
  border.reserve(2 * (w + h));
  for (std::size_t x = 0; x < w; ++x) {
    border.push_back(px[x]);
    border.push_back(px[(h - 1) * w + x]);
  }
  for (std::size_t y = 0; y < h; ++y) {
    border.push_back(px[y * w]);
    border.push_back(px[y * w + w - 1]);
  }
  std::nth_element(border.begin(), border.begin() + border.size() / 2,
                   border.end());
  const int median = border[border.size() / 2];
  const bool light_background = median > 127;
  const int background = light_background ? 255 - median : median;

  // Ink: how much lighter than the background, on a dark background:
  // max(0, slope * v + offset), arithmetic rather than a table so that the
  // loops over pixels below vectorize.
  const float slope = light_background ? -1.0f : 1.0f;
  const float offset = light_background
                           ? 255.0f - static_cast<float>(background)
                           : -static_cast<float>(background);
  const auto ink = [&](std::uint8_t v) {
    return std::max(0.0f, slope * static_cast<float>(v) + offset);
  };
  // The inkiest shade of each column and of each row (the largest on a dark
  // background, the smallest on a light one), in one pass.
  std::vector<std::uint8_t> column_inkiest(w), row_inkiest(h);
  const auto extremes = [&](auto inkier) {
    std::uint8_t* column = column_inkiest.data();
    std::copy(px, px + w, column);
    for (std::size_t y = 0; y < h; ++y) {
      const std::uint8_t* row = px + y * w;
      std::uint8_t most_in_row = row[0];
      for (std::size_t x = 0; x < w; ++x) {
        column[x] = inkier(column[x], row[x]);
        most_in_row = inkier(most_in_row, row[x]);
      }
      row_inkiest[y] = most_in_row;
    }
  };
  if (light_background) {
    extremes([](std::uint8_t a, std::uint8_t b) { return std::min(a, b); });
  } else {
    extremes([](std::uint8_t a, std::uint8_t b) { return std::max(a, b); });
  }
  float most = 0;
  for (const std::uint8_t v : row_inkiest) most = std::max(most, ink(v));
  if (most < 16) {
    return make_error(errc::invalid_argument,
                      "no character in the image: every pixel is within 16 "
                      "shades of the background");
  }
  // The bounding box of the ink that stands out (a tenth of the most).
  const auto stands_out = [&](std::uint8_t v) {
    return ink(v) > most * 0.1f;
  };
  const auto first_last = [&](const std::vector<std::uint8_t>& inkiest) {
    const auto first = std::find_if(inkiest.begin(), inkiest.end(), stands_out);
    const auto last =
        std::find_if(inkiest.rbegin(), inkiest.rend(), stands_out);
    return std::pair{static_cast<std::size_t>(first - inkiest.begin()),
                     static_cast<std::size_t>(inkiest.rend() - last) - 1};
  };
  const auto [x0, x1] = first_last(column_inkiest);
  const auto [y0, y1] = first_last(row_inkiest);
  const double box_w = static_cast<double>(x1 - x0 + 1);
  const double box_h = static_cast<double>(y1 - y0 + 1);
  const double scale = inner_side / std::max(box_w, box_h);
  const axis_weights columns(w, static_cast<double>(x0) + box_w / 2, scale);
  const axis_weights rows(h, static_cast<double>(y0) + box_h / 2, scale);

  // Rows first: each of the 28 target rows is a weighted sum of whole
  // source rows (of the columns any target reads), contiguous and
  // vectorized; then each target pixel sums along its row.
  const std::size_t span = columns.last - columns.first;
  std::vector<float> tall(emnist_side * span);
  for (std::size_t t = 0; t < emnist_side; ++t) {
    float* out = tall.data() + t * span;
    for (auto k = rows.offset[t]; k < rows.offset[t + 1]; ++k) {
      const std::uint8_t* row = px + rows.index[k] * w + columns.first;
      const float weight = rows.weight[k];
      for (std::size_t x = 0; x < span; ++x) out[x] += weight * ink(row[x]);
    }
  }
  std::array<float, emnist_side * emnist_side> upright{};
  float top = 0;
  for (std::size_t y = 0; y < emnist_side; ++y) {
    const float* row = tall.data() + y * span;
    for (std::size_t x = 0; x < emnist_side; ++x) {
      const float v = columns.sample(
          x, [&](std::size_t i) { return row[i - columns.first]; });
      upright[y * emnist_side + x] = v;
      top = std::max(top, v);
    }
  }
  // Stretched to 0-255, and transposed as EMNIST stores its images.
  emnist_sample out{};
  for (std::size_t y = 0; y < emnist_side; ++y) {
    for (std::size_t x = 0; x < emnist_side; ++x) {
      const float v = top > 0 ? upright[y * emnist_side + x] * 255.0f / top : 0;
      out[x * emnist_side + y] =
          static_cast<std::uint8_t>(std::clamp(v, 0.0f, 255.0f) + 0.5f);
    }
  }
  return out;
}

std::vector<float> class_probabilities(const mlp_shape& shape,
                                       std::span<const float> params,
                                       float input_scale,
                                       std::span<const std::uint8_t> sample) {
  using row_major =
      Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  const auto inputs = static_cast<Eigen::Index>(shape.inputs);
  const auto hidden = static_cast<Eigen::Index>(shape.hidden);
  const auto classes = static_cast<Eigen::Index>(shape.classes);
  Eigen::Map<const row_major> w1(params.data(), inputs, hidden);
  Eigen::Map<const row_major> w2(params.data() + shape.w1_size(), hidden,
                                 classes);
  Eigen::RowVectorXf x(inputs);
  for (Eigen::Index i = 0; i < inputs; ++i) {
    x[i] =
        static_cast<float>(sample[static_cast<std::size_t>(i)]) * input_scale;
  }
  const Eigen::RowVectorXf h = (x * w1).array().tanh().matrix();
  Eigen::RowVectorXf logits = h * w2;
  logits.array() -= logits.maxCoeff();
  logits = logits.array().exp().matrix();
  logits /= logits.sum();
  return {logits.data(), logits.data() + logits.size()};
}

}  // namespace emnist
