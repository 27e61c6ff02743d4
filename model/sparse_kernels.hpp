// The products of the first layer with a sparse input (sparse_batch): nearly
// all of a training step's arithmetic. Each is compiled once per instruction
// set (SSE2, AVX2+FMA, AVX-512) and picked at run time for the processor the
// program runs on, so one binary trains at full speed on any x86-64.
//
//   kernels::first_layer_forward(x, w1, h, out);       // out = X W1
//   kernels::first_layer_update(x, dz, h, lr, w1);      // W1 -= lr X^T dz
//   kernels::active_isa();                              // e.g. isa::avx2
//
// out and dz have padded_hidden(h) columns, row-major (the padding of out
// is written with zeros; that of dz is read and ignored). W1 has h columns.
//
// The evaluator has its own: the first layer by blocks of W1
// (first_layer_forward_blocks), or on a processor with AMX (isa::amx) on
// the tile unit (tile_product: dense, from the images' bytes); the second
// layer and the choice of the class in one pass (predict_classes).
//
// The environment variable EMNIST_KERNELS=sse2|avx2|avx512|amx picks a variant
// by hand (benchmarks, and checking that each gives the same results); an
// unknown or unsupported name is refused by select_isa_from_environment().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "model/aligned_buffer.hpp"
#include "model/sparse_batch.hpp"

namespace emnist::kernels {

/// The instruction sets the kernels are compiled for, slowest first
/// (avx512: F, BW and VL). amx runs avx512's kernels, and the evaluator's
/// product on AMX tiles.
enum class isa { sse2, avx2, avx512, amx };

/// "sse2", "avx2", "avx512" or "amx".
[[nodiscard]] const char* isa_name(isa i);
[[nodiscard]] std::optional<isa> parse_isa(std::string_view name);

/// The variants this processor can run, slowest first (sse2 always).
[[nodiscard]] std::vector<isa> supported_isas();

/// The variant in use: the fastest supported one, unless chosen.
[[nodiscard]] isa active_isa();

/// Uses variant `i` from now on (not while kernels run on other threads).
/// Fails, naming the processor's variants, when it is not supported.
[[nodiscard]] expected<void> use_isa(isa i);

/// Applies EMNIST_KERNELS when it is set: an error names the value and the
/// variants this processor supports.
[[nodiscard]] expected<void> select_isa_from_environment();

/// out = X W1 (out: x.rows x padded_hidden(h)).
void first_layer_forward(const sparse_batch& x, const float* w1, std::size_t h,
                         float* out);

/// W1 -= learning_rate X^T dz (dz: x.rows x padded_hidden(h)).
void first_layer_update(const sparse_batch& x, const float* dz, std::size_t h,
                        float learning_rate, float* w1);

/// W1 (inputs x h, row-major) in blocks of 16 columns, for
/// first_layer_forward_blocks: inputs x padded_hidden(h) floats at
/// `blocks`, block b's row of pixel p at (b * inputs + p) * 16, zeros past
/// h. `blocks` should be 64-byte aligned (one cache line a block's row).
void pack_w1_blocks(const float* w1, std::size_t inputs, std::size_t h,
                    float* blocks);

/// out = X W1 (out: x.rows x padded_hidden(h), zeros past h) from W1
/// packed by pack_w1_blocks: the evaluator's product, 2x as fast as
/// first_layer_forward's when W1 is read by many rows; each row's sum is
/// added up in another order (results agree to rounding).
void first_layer_forward_blocks(const sparse_batch& x, const float* blocks,
                                std::size_t inputs, std::size_t h, float* out);

/// The loader's: appends the nonzero pixels of `image` (`features` bytes)
/// at `at` of `pixels` and `values` (each byte times `scale`), ascending;
/// returns the new end. May store up to nonzeros_slack entries past the
/// new end (AVX-512 stores 16 at a time): the arrays need that much room.
std::uint32_t append_nonzeros(const std::uint8_t* image, std::size_t features,
                              float scale, std::uint16_t* pixels, float* values,
                              std::uint32_t at);
inline constexpr std::size_t nonzeros_slack = 16;

/// The loader's columns of `x`, whose rows assign_rows() has just built
/// from `images`, where the variant in use has such a kernel (avx512, amx;
/// returns false otherwise, and sparse_batch sorts its rows instead):
/// x.pixels, x.starts, x.rows_of and x.values as sparse_batch lays them
/// out (pixels and their samples ascending). Stores up to nonzeros_slack
/// entries past the last nonzero of rows_of and values. `masks` and
/// `cursors`: room for column_scratch_size(x.rows, x.features) values
/// each. x.pixels and x.starts must have room for every pixel.
bool build_columns(const std::uint8_t* const* images, sparse_batch& x,
                   std::uint16_t* masks, std::uint32_t* cursors);
std::size_t column_scratch_size(std::size_t n, std::size_t features);

/// W2 (h x classes, row-major) for predict_classes: h rows of
/// padded_hidden(classes) floats (classes rounded up to 16 as hidden units
/// are), zeros past `classes`, then one row that starts every sum: 0 for
/// the classes, -inf past them (so that no padding is ever the largest).
/// (h + 1) x padded_hidden(classes) floats at `packed`.
void pack_w2(const float* w2, std::size_t h, std::size_t classes,
             float* packed);

/// The evaluator's second layer: out[r] = the class of the largest logit
/// of row r of t W2 (the first, on a tie; 0 when the logits are NaN), for
/// t the tanh'd activations, rows x tp floats (columns past h unread), and
/// W2 packed by pack_w2. A row's logits stay in registers: no logits
/// matrix, no pass to find its largest.
void predict_classes(const float* t, std::size_t rows, std::size_t tp,
                     std::size_t h, const float* w2_packed, std::size_t classes,
                     std::uint8_t* out);

/// True when the variant in use is isa::amx: the evaluator's product is
/// tile_product's then.
[[nodiscard]] bool tiles_in_use();

/// The evaluator's product on AMX tiles: out = X W1 for whole images, X
/// their bytes / 255 (as sparse_batch scales them). W1 is kept as three
/// bf16 parts whose sum is W1 exactly (8 bits of its 24 each): every
/// product of a byte and a part is exact in float and only the float sums
/// round, so results agree with the vector kernels' to rounding. Dense (the
/// zero pixels cost as much as the others), and still several times as fast
/// as first_layer_forward_blocks (docs/benchmarks.md, Evaluation). Where
/// tiles_in_use() is false, forward() adds up the same parts in scalar code
/// (slow: for tests on any processor, not for use).
class tile_product {
 public:
  /// For images of `inputs` bytes and W1 of `h` columns.
  tile_product(std::size_t inputs, std::size_t h);
  /// W1 (inputs x h, row-major), split into its parts.
  void pack(const float* w1);
  /// out = X W1 for `rows` images (out: rows x padded_hidden(h), zeros
  /// past h), with the W1 of the last pack().
  void forward(const std::uint8_t* const* images, std::size_t rows, float* out);

 private:
  std::size_t inputs_, h_;
  aligned_buffer<std::uint16_t> parts_;   ///< W1's parts, in tiles
  aligned_buffer<std::uint16_t> images_;  ///< 2 x 32 images as bf16
  aligned_buffer<std::uint8_t> active_;   ///< their nonzero k-tiles
  aligned_buffer<float> sums_;            ///< their 32 rows of sums
};

/// The same two products as plain scalar loops: the reference the tests
/// hold every variant to.
void first_layer_forward_reference(const sparse_batch& x, const float* w1,
                                   std::size_t h, float* out);
void first_layer_update_reference(const sparse_batch& x, const float* dz,
                                  std::size_t h, float learning_rate,
                                  float* w1);

}  // namespace emnist::kernels
