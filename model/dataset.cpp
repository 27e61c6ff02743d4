// Labelled image files, views, sharding and the class mapping.
#include "model/dataset.hpp"

#include <fstream>
#include <sstream>

namespace emnist {

expected<labeled_images> pair_images_and_labels(
    std::string name, idx_images images, std::vector<std::uint8_t> labels) {
  if (images.count != labels.size()) {
    return make_error(errc::invalid_argument,
                      name + ": the images file has " +
                          std::to_string(images.count) +
                          " images but the labels file has " +
                          std::to_string(labels.size()) + " labels");
  }
  labeled_images out;
  out.name = std::move(name);
  out.count = images.count;
  out.features = std::size_t{images.rows} * images.cols;
  out.pixels = std::move(images.pixels);
  out.labels = std::move(labels);
  return out;
}

data_view::data_view(std::shared_ptr<const labeled_images> file,
                     index_range range)
    : file_(std::move(file)), range_(range) {}

data_view data_view::shard(std::size_t index, std::size_t count) const {
  const std::size_t n = size();
  return data_view(file_, {range_.begin + index * n / count,
                           range_.begin + (index + 1) * n / count});
}

void to_float(const std::uint8_t* src, std::size_t n, float* dst) {
  constexpr float scale = 1.0f / 255.0f;
  for (std::size_t i = 0; i < n; ++i)
    dst[i] = static_cast<float>(src[i]) * scale;
}

expected<class_mapping> read_class_mapping(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) return make_error(errc::not_found, file.string() + ": cannot open");
  class_mapping out;
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream fields(line);
    int label = -1;
    int code = -1;
    if (!(fields >> label >> code) || label < 0 || label > 255 || code < 0) {
      return make_error(errc::invalid_argument,
                        file.string() + ":" + std::to_string(line_no) +
                            ": expected 'label ascii_code', got '" + line +
                            "'");
    }
    if (static_cast<std::size_t>(label) >= out.codes.size()) {
      out.codes.resize(static_cast<std::size_t>(label) + 1, -1);
    }
    out.codes[static_cast<std::size_t>(label)] = code;
  }
  if (out.codes.empty()) {
    return make_error(errc::invalid_argument,
                      file.string() + ": no class in the mapping file");
  }
  return out;
}

}  // namespace emnist
