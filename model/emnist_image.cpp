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

/// Samples `src` (n values, pixel i covering [i, i+1)) over target pixels
/// t = 0..27, pixel t covering [centre + (t - 14) / scale, ... + 1 / scale):
/// the mean of the source over that interval, 0 outside the source.
std::array<float, emnist_side> resample(const float* src, std::size_t stride,
                                        std::size_t n, double centre,
                                        double scale) {
  std::array<float, emnist_side> out{};
  for (std::size_t t = 0; t < emnist_side; ++t) {
    const double a = centre + (static_cast<double>(t) - 14.0) / scale;
    const double b = a + 1.0 / scale;
    const auto first = static_cast<std::ptrdiff_t>(std::floor(a));
    const auto last = static_cast<std::ptrdiff_t>(std::ceil(b));
    double sum = 0;
    for (auto i = std::max<std::ptrdiff_t>(first, 0);
         i < std::min<std::ptrdiff_t>(last, static_cast<std::ptrdiff_t>(n));
         ++i) {
      const double lo = std::max(a, static_cast<double>(i));
      const double hi = std::min(b, static_cast<double>(i + 1));
      if (hi > lo) {
        sum += (hi - lo) * src[static_cast<std::size_t>(i) * stride];
      }
    }
    out[t] = static_cast<float>(sum * scale);
  }
  return out;
}

}  // namespace

expected<emnist_sample> to_emnist_sample(const grey_image& image) {
  const std::size_t w = image.width, h = image.height;
  if (w == 0 || h == 0 || image.pixels.size() != w * h) {
    return make_error(errc::invalid_argument, "the image is empty");
  }
  // The background: the median shade of the border.
  std::vector<std::uint8_t> border;
  for (std::size_t x = 0; x < w; ++x) {
    border.push_back(image.pixels[x]);
    border.push_back(image.pixels[(h - 1) * w + x]);
  }
  for (std::size_t y = 0; y < h; ++y) {
    border.push_back(image.pixels[y * w]);
    border.push_back(image.pixels[y * w + w - 1]);
  }
  std::nth_element(border.begin(), border.begin() + border.size() / 2,
                   border.end());
  const int median = border[border.size() / 2];
  const bool light_background = median > 127;
  const int background = light_background ? 255 - median : median;

  // Ink: how much lighter than the background, on a dark background.
  std::vector<float> ink(w * h);
  float most = 0;
  for (std::size_t i = 0; i < w * h; ++i) {
    const int v = light_background ? 255 - image.pixels[i] : image.pixels[i];
    ink[i] = static_cast<float>(std::max(0, v - background));
    most = std::max(most, ink[i]);
  }
  if (most < 16) {
    return make_error(errc::invalid_argument,
                      "no character in the image: every pixel is within 16 "
                      "shades of the background");
  }
  // The bounding box of the ink that stands out (a tenth of the darkest).
  std::size_t x0 = w, x1 = 0, y0 = h, y1 = 0;
  for (std::size_t y = 0; y < h; ++y) {
    for (std::size_t x = 0; x < w; ++x) {
      if (ink[y * w + x] <= most * 0.1f) continue;
      x0 = std::min(x0, x);
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  }
  const double box_w = static_cast<double>(x1 - x0 + 1);
  const double box_h = static_cast<double>(y1 - y0 + 1);
  const double scale = inner_side / std::max(box_w, box_h);
  const double cx = static_cast<double>(x0) + box_w / 2;
  const double cy = static_cast<double>(y0) + box_h / 2;

  // Rows first (every source row to 28 columns), then the columns.
  std::vector<float> rows(h * emnist_side);
  for (std::size_t y = 0; y < h; ++y) {
    const auto r = resample(&ink[y * w], 1, w, cx, scale);
    std::copy(r.begin(), r.end(), rows.begin() + y * emnist_side);
  }
  std::array<float, emnist_side * emnist_side> upright{};
  float top = 0;
  for (std::size_t x = 0; x < emnist_side; ++x) {
    const auto c = resample(&rows[x], emnist_side, h, cy, scale);
    for (std::size_t y = 0; y < emnist_side; ++y) {
      upright[y * emnist_side + x] = c[y];
      top = std::max(top, c[y]);
    }
  }
  // Stretched to 0-255, and transposed as EMNIST stores its images.
  emnist_sample out{};
  for (std::size_t y = 0; y < emnist_side; ++y) {
    for (std::size_t x = 0; x < emnist_side; ++x) {
      const float v = top > 0 ? upright[y * emnist_side + x] * 255.0f / top : 0;
      out[x * emnist_side + y] =
          static_cast<std::uint8_t>(std::lround(std::clamp(v, 0.0f, 255.0f)));
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
