// The entry points of each instruction set's kernels, behind
// model/sparse_kernels.hpp (which picks one at run time). Internal to model/.
//
// Each model/sparse_kernels_<isa>.cpp compiles model/sparse_kernels_impl.hpp
// with that instruction set's flags. Only this plain view crosses the
// boundary, never a std::vector: an inline function of std (or Eigen) used
// there would be compiled with those flags, and the linker keeps one copy of
// it for every caller, so an AVX-512 copy could end up in the SSE2 path.
#pragma once

#include <cstddef>
#include <cstdint>

namespace emnist::kernels {

/// A sparse_batch as plain pointers (see model/sparse_batch.hpp).
struct sparse_view {
  std::size_t rows = 0;
  std::size_t pixel_count = 0;
  const std::uint16_t* pixels = nullptr;
  const std::uint32_t* starts = nullptr;  ///< pixel_count + 1 offsets
  const std::uint16_t* rows_of = nullptr;
  const float* values = nullptr;
  const std::uint32_t* row_starts = nullptr;  ///< rows + 1 offsets
  const std::uint16_t* row_pixels = nullptr;
  const float* row_values = nullptr;
};

using forward_fn = void (*)(const sparse_view& x, const float* w1,
                            std::size_t h, float* out);
using forward_blocks_fn = void (*)(const sparse_view& x, const float* blocks,
                                   std::size_t inputs, std::size_t h,
                                   float* out);
using update_fn = void (*)(const sparse_view& x, const float* dz, std::size_t h,
                           float learning_rate, float* w1);
using nonzeros_fn = std::uint32_t (*)(const std::uint8_t* image,
                                      std::size_t features, float scale,
                                      std::uint16_t* pixels, float* values,
                                      std::uint32_t at);
using columns_fn = std::size_t (*)(
    const std::uint8_t* const* images, std::size_t n, std::size_t features,
    const std::uint32_t* row_starts, const float* row_values,
    std::uint16_t* pixels, std::uint32_t* starts, std::uint16_t* rows_of,
    float* values, std::uint16_t* masks, std::uint32_t* cursors);
using classes_fn = void (*)(const float* t, std::size_t rows, std::size_t tp,
                            std::size_t h, const float* w2, std::size_t classes,
                            std::uint8_t* out);

namespace sse2 {
void forward(const sparse_view& x, const float* w1, std::size_t h, float* out);
void forward_blocks(const sparse_view& x, const float* blocks,
                    std::size_t inputs, std::size_t h, float* out);
void update(const sparse_view& x, const float* dz, std::size_t h,
            float learning_rate, float* w1);
void classes(const float* t, std::size_t rows, std::size_t tp, std::size_t h,
             const float* w2, std::size_t classes, std::uint8_t* out);
}  // namespace sse2

namespace avx2 {
void forward(const sparse_view& x, const float* w1, std::size_t h, float* out);
void forward_blocks(const sparse_view& x, const float* blocks,
                    std::size_t inputs, std::size_t h, float* out);
void update(const sparse_view& x, const float* dz, std::size_t h,
            float learning_rate, float* w1);
void classes(const float* t, std::size_t rows, std::size_t tp, std::size_t h,
             const float* w2, std::size_t classes, std::uint8_t* out);
}  // namespace avx2

namespace avx512 {
void forward(const sparse_view& x, const float* w1, std::size_t h, float* out);
void forward_blocks(const sparse_view& x, const float* blocks,
                    std::size_t inputs, std::size_t h, float* out);
void update(const sparse_view& x, const float* dz, std::size_t h,
            float learning_rate, float* w1);
void classes(const float* t, std::size_t rows, std::size_t tp, std::size_t h,
             const float* w2, std::size_t classes, std::uint8_t* out);
/// model/sparse_rows_avx512.cpp: stores 16 entries from `at` whatever
/// the count.
std::uint32_t append_nonzeros(const std::uint8_t* image, std::size_t features,
                              float scale, std::uint16_t* pixels, float* values,
                              std::uint32_t at);
/// model/sparse_rows_avx512.cpp: a batch's columns (see
/// kernels::build_columns); returns the active pixels. Stores 16 entries
/// past the last one at most.
std::size_t columns(const std::uint8_t* const* images, std::size_t n,
                    std::size_t features, const std::uint32_t* row_starts,
                    const float* row_values, std::uint16_t* pixels,
                    std::uint32_t* starts, std::uint16_t* rows_of,
                    float* values, std::uint16_t* masks,
                    std::uint32_t* cursors);
}  // namespace avx512

namespace amx {
/// The tile product's work space, as model/sparse_kernels_amx.cpp lays it
/// out: a, 2 x 32 x kp bf16 (kp: inputs rounded up to 32); active, 2 x
/// kp / 32 bytes; c, 32 x hp floats.
struct tile_scratch {
  std::uint16_t* a = nullptr;
  std::uint8_t* active = nullptr;
  float* c = nullptr;
};
/// out (rows x hp) = bytes (rows images of `inputs`) x parts, times scale.
/// Only on a processor with AMX-BF16 and AVX-512BW, after Linux granted
/// the tile state.
void forward_tiles(const std::uint8_t* const* images, std::size_t rows,
                   std::size_t inputs, const std::uint16_t* parts,
                   std::size_t h, float scale, float* out,
                   const tile_scratch& scratch);
}  // namespace amx

}  // namespace emnist::kernels
