// In-memory EMNIST data: one labelled image file shared read-only by every
// replica of a process, and views (slices, shards) into it.
//
//   auto file = std::make_shared<const labeled_images>(...);
//   data_view train(file, {0, 100000});
//   data_view mine = train.shard(replica_id, replicas);
//   to_float(mine.image(i), mine.features(), row);   // uint8 -> [0, 1]
//
// A file's rows may be held in part (`held`): a process that trains some
// replicas loads only their shards (data_files.hpp). Its views still count
// rows as the file does, so that shard(i, n) names the same rows whatever
// was loaded; a view of rows that were not loaded is a bug, and shard()
// stops the process saying so rather than read memory that is not there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "model/idx_reader.hpp"
#include "model/slice.hpp"

namespace emnist {

/// One IDX images file and its labels file, checked to agree: all of their
/// rows, or the rows `held`.
struct labeled_images {
  std::string name;          ///< e.g. "emnist-bymerge-test", for messages
  std::size_t count = 0;     ///< samples in the file
  std::size_t features = 0;  ///< rows * cols (784 for EMNIST)
  index_range held;          ///< the rows below hold; [0, count) when whole
  std::span<const std::uint8_t> pixels;  ///< held.size() * features
  std::span<const std::uint8_t> labels;  ///< held.size()
  /// What pixels and labels point into: buffers, or mapped files.
  std::shared_ptr<const void> storage;
};

/// Pairs images with labels; an error when their counts differ.
[[nodiscard]] expected<labeled_images> pair_images_and_labels(
    std::string name, idx_images images, std::vector<std::uint8_t> labels);

/// A contiguous range of samples of a shared labeled_images.
class data_view {
 public:
  data_view() = default;
  data_view(std::shared_ptr<const labeled_images> file, index_range range);

  std::size_t size() const { return range_.size(); }
  std::size_t features() const { return file_ ? file_->features : 0; }
  const std::uint8_t* image(std::size_t i) const {
    return file_->pixels.data() +
           (range_.begin + i - file_->held.begin) * file_->features;
  }
  std::uint8_t label(std::size_t i) const {
    return file_->labels[range_.begin + i - file_->held.begin];
  }
  const labeled_images& file() const { return *file_; }
  index_range range() const { return range_; }

  /// Replica `index` of `count` gets the contiguous shard
  /// [index * n / count, (index + 1) * n / count). Its rows must have been
  /// loaded (holds()); else the process stops, naming the shard.
  data_view shard(std::size_t index, std::size_t count) const;
  /// Whether every row of shard(index, count) was loaded.
  bool holds_shard(std::size_t index, std::size_t count) const;
  /// The file's rows of shard(index, count).
  index_range shard_range(std::size_t index, std::size_t count) const;

 private:
  std::shared_ptr<const labeled_images> file_;
  index_range range_;
};

/// Converts `n` pixels to float in [0, 1].
void to_float(const std::uint8_t* src, std::size_t n, float* dst);

/// The `-mapping.txt` of a split: label -> ASCII code.
struct class_mapping {
  std::vector<int> codes;  ///< indexed by label; -1 where a label is unused
  std::size_t classes() const { return codes.size(); }
};

/// Reads "label code [code...]" lines; errors name the file and line.
[[nodiscard]] expected<class_mapping> read_class_mapping(
    const std::filesystem::path& file);

}  // namespace emnist
