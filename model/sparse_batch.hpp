// A minibatch of inputs without its zeros, stored twice: by pixel (for each
// pixel that is nonzero in at least one sample, which samples have it and
// with what value: compressed sparse columns) and by sample (its nonzero
// pixels and their values: compressed sparse rows).
//
//   sparse_batch b;
//   b.reserve(32, 784);
//   b.assign(images, 32, 784);   // images: 32 pointers to uint8 rows
//   for (k < b.pixels.size()) for (e in [b.starts[k], b.starts[k + 1]))
//     use(b.pixels[k], b.rows_of[e], b.values[e]);
//   for (r < b.rows) for (e in [b.row_starts[r], b.row_starts[r + 1]))
//     use(r, b.row_pixels[e], b.row_values[e]);
//
// Why: EMNIST images are two-thirds zeros, and about a fifth of the pixels
// are zero in every sample of a minibatch. The products with the input
// (X W1 forward, X^T dZ backward: nearly all of the network's arithmetic)
// then skip the zeros exactly instead of multiplying by them. The backward
// product goes by pixel, so that each row of W1 is read and written once
// per minibatch; the forward one by sample, so that a sample's activations
// add up in registers and are stored once. The loader builds both on its
// own thread; model/sparse_kernels.hpp uses them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace emnist {

struct sparse_batch {
  std::size_t rows = 0;  ///< samples in the batch
  std::size_t features = 0;
  std::vector<std::uint16_t> pixels;   ///< pixels nonzero somewhere, ascending
  std::vector<std::uint32_t> starts;   ///< pixels.size() + 1 offsets
  std::vector<std::uint16_t> rows_of;  ///< sample of each nonzero
  std::vector<float> values;           ///< its value in (0, 1]
  std::vector<std::uint32_t> row_starts;  ///< rows + 1 offsets
  std::vector<std::uint16_t> row_pixels;  ///< pixels of each sample, ascending
  std::vector<float> row_values;          ///< their values

  /// Allocates for up to `max_rows` samples of `features` pixels, so that
  /// assign() never allocates.
  void reserve(std::size_t max_rows, std::size_t features);

  /// Builds both layouts from `n` images of `features` uint8 pixels,
  /// scaled to [0, 1].
  void assign(const std::uint8_t* const* images, std::size_t n,
              std::size_t features);
  /// Builds the rows only (row_starts, row_pixels, row_values): enough for
  /// the forward product (evaluation); the columns are left stale.
  void assign_rows(const std::uint8_t* const* images, std::size_t n,
                   std::size_t features);

  std::size_t nonzeros() const { return starts.empty() ? 0 : starts.back(); }

 private:
  std::vector<std::uint32_t> slot_next_;  ///< per pixel, while assigning
  std::vector<std::uint16_t> masks_;      ///< kernels::build_columns
  std::vector<std::uint32_t> cursors_;    ///< kernels::build_columns
};

}  // namespace emnist
