// Labelled image files, views, sharding and the class mapping.
#include "model/dataset.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
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
  struct buffers {
    std::vector<std::uint8_t> pixels;
    std::vector<std::uint8_t> labels;
  };
  auto kept = std::make_shared<buffers>(
      buffers{std::move(images.pixels), std::move(labels)});
  labeled_images out;
  out.name = std::move(name);
  out.count = images.count;
  out.features = std::size_t{images.rows} * images.cols;
  out.held = {0, out.count};
  out.pixels = kept->pixels;
  out.labels = kept->labels;
  out.storage = std::move(kept);
  return out;
}

data_view::data_view(std::shared_ptr<const labeled_images> file,
                     index_range range)
    : file_(std::move(file)), range_(range) {}

index_range data_view::shard_range(std::size_t index, std::size_t count) const {
  const std::size_t n = size();
  return {range_.begin + index * n / count,
          range_.begin + (index + 1) * n / count};
}

bool data_view::holds_shard(std::size_t index, std::size_t count) const {
  const auto r = shard_range(index, count);
  return file_ == nullptr || r.size() == 0 ||
         (file_->held.begin <= r.begin && r.end <= file_->held.end);
}

data_view data_view::shard(std::size_t index, std::size_t count) const {
  if (!holds_shard(index, count)) {
    // A caller that loaded some shards asked for another: reading on would
    // read memory that holds no sample.
    const auto r = shard_range(index, count);
    std::fprintf(stderr,
                 "emnist: bug: shard %zu of %zu (rows %zu-%zu of %s) was not "
                 "loaded (rows %zu-%zu were)\n",
                 index, count, r.begin, r.end, file_->name.c_str(),
                 file_->held.begin, file_->held.end);
    std::abort();
  }
  return data_view(file_, shard_range(index, count));
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
  std::vector<int> line_of;  ///< by label: where it was given, 0: not yet
  std::string line;
  for (int line_no = 1; std::getline(in, line); ++line_no) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream fields(line);
    int label = -1;
    int code = -1;
    if (!(fields >> label >> code) || label < 0 || label > 255 || code < 0 ||
        code > 255) {
      return make_error(errc::invalid_argument,
                        file.string() + ":" + std::to_string(line_no) +
                            ": expected 'label ascii_code', got '" + line +
                            "'");
    }
    const auto at = static_cast<std::size_t>(label);
    if (at >= out.codes.size()) {
      out.codes.resize(at + 1, -1);
      line_of.resize(at + 1, 0);
    }
    if (line_of[at] != 0) {
      return make_error(errc::invalid_argument,
                        file.string() + ":" + std::to_string(line_no) +
                            ": label " + std::to_string(label) +
                            " again (first on line " +
                            std::to_string(line_of[at]) + ")");
    }
    line_of[at] = line_no;
    out.codes[at] = code;
  }
  if (out.codes.empty()) {
    return make_error(errc::invalid_argument,
                      file.string() + ": no class in the mapping file");
  }
  // Labels run without gaps from the first (0; 1 in the letters split).
  const auto first = static_cast<std::size_t>(
      std::find_if(line_of.begin(), line_of.end(), [](int l) { return l; }) -
      line_of.begin());
  for (std::size_t label = first; label < line_of.size(); ++label) {
    if (line_of[label] == 0) {
      return make_error(
          errc::invalid_argument,
          file.string() + ": label " + std::to_string(label) +
              " is missing (labels run from " + std::to_string(first) + " to " +
              std::to_string(line_of.size() - 1) + " without gaps)");
    }
  }
  return out;
}

}  // namespace emnist
