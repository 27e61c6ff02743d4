// A minibatch of inputs that skips its zeros, stored both by sample (CSR)
// and by pixel (CSC), built from uint8 images.
//
//   sparse_batch b;
//   b.reserve(32, 784);
//   b.assign(images, 32, 784);   // images: 32 pointers to uint8 rows
//   // by sample: for e in [row_start[r], row_start[r + 1]): row_pixel[e], row_value[e]
//   // by pixel:  for k < pixels.size(), e in [pixel_start[k], pixel_start[k + 1]):
//   //            pixels[k], pixel_row[e], pixel_value[e]
//
// Why: EMNIST images are two-thirds zeros. The products with the input
// (X W1 forward, X^T dZ backward: nearly all the network's arithmetic)
// then skip them exactly instead of multiplying by them. The forward pass
// walks samples, the backward pass walks pixels (so that each row of W1 is
// written once); the loader builds both on its own thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace emnist {

struct sparse_batch {
  std::size_t rows = 0;  ///< samples in the batch
  std::size_t features = 0;

  std::vector<std::uint32_t> row_start;  ///< rows + 1 offsets
  std::vector<std::uint16_t> row_pixel;  ///< pixel of each nonzero
  std::vector<float> row_value;          ///< its value in (0, 1]

  std::vector<std::uint16_t> pixels;       ///< pixels nonzero somewhere
  std::vector<std::uint32_t> pixel_start;  ///< pixels.size() + 1 offsets
  std::vector<std::uint16_t> pixel_row;    ///< sample of each nonzero
  std::vector<float> pixel_value;

  /// Allocates for up to `max_rows` samples of `features` pixels, so that
  /// assign() never allocates.
  void reserve(std::size_t max_rows, std::size_t features);

  /// Builds from `n` images of `features` uint8 pixels, scaled to [0, 1].
  void assign(const std::uint8_t* const* images, std::size_t n,
              std::size_t features);
  /// The same from `n` consecutive images starting at `first`.
  void assign_contiguous(const std::uint8_t* first, std::size_t n,
                         std::size_t features);

  std::size_t nonzeros() const { return row_start.empty() ? 0 : row_start[rows]; }

 private:
  void build_by_pixel();
  std::vector<std::uint32_t> count_;  ///< per pixel, scratch
};

}  // namespace emnist
