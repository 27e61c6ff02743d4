// Python-like selections of a data file: "train", "test[:100000]",
// "test[100000:]", "train[-5000:]", "test[10:20]".
//
//   auto s = emnist::parse_slice("test[:100000]");   // {file "test", 0,
//   100000} auto r = s->resolve(116323);                      // [0, 100000)
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/expected.hpp"

namespace emnist {

/// A half-open range [begin, end) of sample indices.
struct index_range {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const { return end - begin; }
};

struct data_slice {
  std::string file;                   ///< "train" or "test"
  std::optional<std::int64_t> start;  ///< Python semantics: negative from end
  std::optional<std::int64_t> stop;

  /// Clamps to a file of `count` samples, as Python slicing does.
  index_range resolve(std::size_t count) const;
  std::string to_string() const;
};

/// Parses "name" or "name[start:stop]" with name "train" or "test".
/// Errors name the text and the character position of the problem.
[[nodiscard]] expected<data_slice> parse_slice(std::string_view text);

}  // namespace emnist
