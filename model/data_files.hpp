// Loads the data of a job: the files a split's selections need, each once.
//
//   auto data = emnist::load_job_data({dir, "bymerge", train_sel, eval_sel});
//   data->train.shard(i, n);   data->eval;   data->classes;
//
//   data_request r{dir, "bymerge", train_sel, eval_sel};
//   r.only_shards = train_shards{{2}, 4};   // this process trains replica 2 of
//   4 auto mine = emnist::load_job_data(r);   // mine->train.shard(2, 4): the
//                                           // same rows as a whole load's
//
// Gzip files are inflated once into a cache (idx_cache.hpp) that later
// loads map without copying; raw files are mapped. What a load uses of a
// cache file it checks against the cache's checksums first, and it reads
// the source instead on any mismatch.
//
// File names follow the official release:
// emnist-<split>-{train,test}-{images-idx3,labels-idx1}-ubyte[.gz] and
// emnist-<split>-mapping.txt. The number of classes comes from the mapping
// file, or from the labels when there is none; it is never hard-coded.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/dataset.hpp"
#include "model/idx_cache.hpp"
#include "model/slice.hpp"

namespace emnist {

inline const std::vector<std::string>& known_splits() {
  static const std::vector<std::string> splits = {
      "byclass", "bymerge", "balanced", "letters", "digits", "mnist"};
  return splits;
}

/// Replicas `ids` of a job of `count`: the ones a process trains, when it
/// trains only some.
struct train_shards {
  std::vector<std::uint32_t> ids;
  std::size_t count = 0;
};

struct data_request {
  std::filesystem::path dir;
  std::string split = "bymerge";
  data_slice train;
  data_slice eval;
  /// Where inflated copies of gzip files are kept; unset: the default of
  /// data.cache_dir, idx_cache_dirs("", dir).
  std::optional<std::vector<idx_cache_dir>> cache_dirs = std::nullopt;
  /// Set: of `train`, only these replicas' shards are loaded and checked
  /// (the eval selection is loaded whole). `train` then still counts every
  /// row of the selection, so that train.shard(i, count) for i in ids are
  /// the rows a whole load gives; any other shard is not there (see
  /// data_view::holds_shard).
  std::optional<train_shards> only_shards = std::nullopt;
};

struct job_data {
  data_view train;
  data_view eval;
  std::size_t classes = 0;
  std::size_t features = 0;
  class_mapping mapping;  ///< empty when the split has no mapping file
  double load_seconds = 0;
  /// Each file read and where its bytes came from.
  struct source {
    std::filesystem::path file;
    idx_origin origin = idx_origin::raw_file;
    std::string note;  ///< idx_bytes::note
  };
  std::vector<source> sources;
};

/// One line on where a load's bytes came from: "from the cache in DIR",
/// "inflated, cached in DIR", "inflated (no cache: WHY)", "raw files".
[[nodiscard]] std::string describe_sources(const job_data& data);

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
