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
// The environment variable EMNIST_KERNELS=sse2|avx2|avx512 picks a variant
// by hand (benchmarks, and checking that each gives the same results); an
// unknown or unsupported name is refused by select_isa_from_environment().
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"
#include "model/sparse_batch.hpp"

namespace emnist::kernels {

/// The instruction sets the kernels are compiled for, slowest first.
enum class isa { sse2, avx2, avx512 };

/// "sse2", "avx2" or "avx512".
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

/// The same two products as plain scalar loops: the reference the tests
/// hold every variant to.
void first_layer_forward_reference(const sparse_batch& x, const float* w1,
                                   std::size_t h, float* out);
void first_layer_update_reference(const sparse_batch& x, const float* dz,
                                  std::size_t h, float learning_rate,
                                  float* w1);

}  // namespace emnist::kernels
