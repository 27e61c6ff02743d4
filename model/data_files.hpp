// Loads the data of a job: the files a split's selections need, each once.
//
//   auto data = emnist::load_job_data({dir, "bymerge", train_sel, eval_sel});
//   data->train.shard(i, n);   data->eval;   data->classes;
//
// File names follow the official release:
// emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte[.gz] and
// emnist-<split>-mapping.txt. The number of classes comes from the mapping
// file, or from the labels when there is none; it is never hard-coded.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "model/dataset.hpp"
#include "model/slice.hpp"

namespace emnist {

inline const std::vector<std::string>& known_splits() {
  static const std::vector<std::string> splits = {
      "byclass", "bymerge", "balanced", "letters", "digits", "mnist"};
  return splits;
}

struct data_request {
  std::filesystem::path dir;
  std::string split = "bymerge";
  data_slice train;
  data_slice eval;
};

struct job_data {
  data_view train;
  data_view eval;
  std::size_t classes = 0;
  std::size_t features = 0;
  class_mapping mapping;  ///< empty when the split has no mapping file
  double load_seconds = 0;
};

/// The path of one IDX file ("train"/"test", "images"/"labels"): the .gz
/// when it exists, else the raw file, else the .gz name (for the error).
std::filesystem::path idx_path(const std::filesystem::path& dir,
                               const std::string& split,
                               const std::string& file, bool images);

[[nodiscard]] expected<job_data> load_job_data(const data_request& request);

/// The split's labels alone (`mapping`, `classes`; no samples, `features`
/// 0): what a process that trains and evaluates nothing needs, such as
/// emnist-predict, without the hundreds of MB of the training images.
[[nodiscard]] expected<job_data> load_job_labels(const data_request& request);

}  // namespace emnist
