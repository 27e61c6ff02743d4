// Top-k of the softmax, and the two image decoders in front of it.
#include "functions/prediction.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <numeric>

#include "runtime/data/png_image.hpp"

namespace emnist {

boost::json::array predictions_of(const saved_model& model,
                                  const emnist_sample& sample,
                                  std::size_t top) {
  const auto p = class_probabilities(model.shape, model.parameters,
                                     model.input_scale, sample);
  std::vector<std::size_t> order(p.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  const std::size_t k = std::min(top, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<long>(k),
                    order.end(), [&](std::size_t a, std::size_t b) {
                      return p[a] > p[b] || (p[a] == p[b] && a < b);
                    });
  boost::json::array out;
  for (std::size_t i = 0; i < k; ++i) {
    const std::size_t c = order[i];
    out.push_back(boost::json::object{
        {"class", c},
        {"label",
         c < model.labels.size() ? model.labels[c] : std::to_string(c)},
        {"probability", static_cast<double>(p[c])}});
  }
  return out;
}

expected<emnist_sample> sample_of_png(std::span<const std::byte> file,
                                      const std::string& name,
                                      std::size_t max_pixels,
                                      const cpu_budget& budget) {
  auto image = decode_png(file, name, max_pixels, budget);
  if (!image) return image.error();
  auto sample = to_emnist_sample(*image);
  if (!sample) {
    return make_error(sample.error().code,
                      name + ": " + sample.error().message);
  }
  return sample;
}

expected<emnist_sample> sample_of_pixels_json(const std::string& body) {
  boost::system::error_code ec;
  const auto v = boost::json::parse(body, ec);
  const boost::json::value* pixels =
      !ec && v.is_object() ? v.as_object().if_contains("pixels") : nullptr;
  if (pixels == nullptr || !pixels->is_array()) {
    return make_error(errc::invalid_argument,
                      "the body: expected a PNG (Content-Type: image/png) or "
                      "JSON {\"pixels\": [784 numbers 0-255]}");
  }
  const auto& a = pixels->as_array();
  if (a.size() != emnist_side * emnist_side) {
    return make_error(errc::invalid_argument,
                      "pixels: " + std::to_string(a.size()) +
                          " numbers, expected 784 (28 rows of 28, upright)");
  }
  grey_image image{emnist_side, emnist_side,
                   std::vector<std::uint8_t>(a.size())};
  for (std::size_t i = 0; i < a.size(); ++i) {
    double d = -1;
    if (a[i].is_int64()) d = static_cast<double>(a[i].get_int64());
    if (a[i].is_uint64()) d = static_cast<double>(a[i].get_uint64());
    if (a[i].is_double()) d = a[i].get_double();
    if (!(d >= 0 && d <= 255)) {
      return make_error(
          errc::invalid_argument,
          "pixels[" + std::to_string(i) + "]: expected a number from 0 to 255");
    }
    image.pixels[i] = static_cast<std::uint8_t>(d + 0.5);
  }
  return to_emnist_sample(image);
}

}  // namespace emnist
