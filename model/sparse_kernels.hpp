// The products of the first layer with a sparse input (sparse_batch),
// vectorised with GCC's portable vector extensions: AVX-512, AVX2 or SSE,
// whatever the build targets. Internal to model/ (mlp.cpp uses them).
//
//   forward:  out = X W1        out: rows x padded_hidden(h), row-major
//   update:   W1 -= lr X^T dz   dz:  rows x padded_hidden(h), row-major
//
// A row of W1 has h floats and is read in C chunks of 16 lanes; the last
// chunk is loaded so that it ends exactly at h (nothing past a row is
// touched) and its lanes are then moved into place. The activations are
// padded to 16 * C columns (the padding stays zero). C is a template
// parameter so that a row of W1 stays in registers; hidden sizes outside
// [16, 128] take plain loops.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "model/mlp.hpp"
#include "model/sparse_batch.hpp"

namespace emnist::kernels {

using vec16 = float __attribute__((vector_size(64)));
using idx16 = std::int32_t __attribute__((vector_size(64)));

inline vec16 load16(const float* p) {
  vec16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, vec16 v) {
  std::memcpy(p, &v, sizeof v);
}

/// How the last chunk of a row of h floats, loaded at h - 16, maps to the
/// padded lanes 16 (C - 1) ... 16 C - 1, and back.
struct tail_map {
  idx16 to_padded;    ///< lane j takes loaded lane j + s
  vec16 padded_mask;  ///< 1 for the t real columns, 0 for the padding
  idx16 to_row;       ///< lane j takes padded lane j - s
  vec16 row_mask;     ///< 0 for lanes that belong to the chunk before
  tail_map(std::size_t h, std::size_t chunks) {
    const int s = static_cast<int>(16 * chunks - h);  // 0 .. 15
    for (int j = 0; j < 16; ++j) {
      to_padded[j] = std::min(j + s, 15);
      padded_mask[j] = j + s < 16 ? 1.0f : 0.0f;
      to_row[j] = std::max(j - s, 0);
      row_mask[j] = j >= s ? 1.0f : 0.0f;
    }
  }
};

/// out = X W1, one pixel at a time: its row of W1 is loaded once and added,
/// scaled, to the activations of every sample that has the pixel.
template <int C>
void first_layer_forward(const sparse_batch& x, const float* w1, std::size_t h,
                         float* out) {
  constexpr std::size_t hp = 16 * C;
  const tail_map tail(h, C);
  std::fill(out, out + x.rows * hp, 0.0f);
  for (std::size_t k = 0; k < x.pixels.size(); ++k) {
    const float* row = w1 + std::size_t{x.pixels[k]} * h;
    vec16 w[C];
    for (int c = 0; c + 1 < C; ++c) w[c] = load16(row + 16 * c);
    w[C - 1] = __builtin_shuffle(load16(row + h - 16), tail.to_padded) *
               tail.padded_mask;
    for (std::uint32_t e = x.starts[k]; e < x.starts[k + 1]; ++e) {
      float* o = out + std::size_t{x.rows_of[e]} * hp;
      const float v = x.values[e];
      for (int c = 0; c < C; ++c)
        store16(o + 16 * c, load16(o + 16 * c) + v * w[c]);
    }
  }
}

/// W1 -= learning_rate * X^T dz, one pixel at a time, so that each touched
/// row of W1 is read and written once.
template <int C>
void first_layer_update(const sparse_batch& x, const float* dz, std::size_t h,
                        float learning_rate, float* w1) {
  constexpr std::size_t hp = 16 * C;
  const tail_map tail(h, C);
  for (std::size_t k = 0; k < x.pixels.size(); ++k) {
    vec16 acc[C] = {};
    for (std::uint32_t e = x.starts[k]; e < x.starts[k + 1]; ++e) {
      const float* d = dz + std::size_t{x.rows_of[e]} * hp;
      const float v = x.values[e];
      for (int c = 0; c < C; ++c) acc[c] += v * load16(d + 16 * c);
    }
    float* row = w1 + std::size_t{x.pixels[k]} * h;
    vec16 updated[C];
    for (int c = 0; c + 1 < C; ++c) {
      updated[c] = load16(row + 16 * c) - learning_rate * acc[c];
    }
    // The last chunk ends at h; its first lanes overlap chunk C - 2 and
    // keep their old values here, so it is stored first and chunk C - 2
    // overwrites them with the updated ones.
    updated[C - 1] =
        load16(row + h - 16) - learning_rate *
                                   __builtin_shuffle(acc[C - 1], tail.to_row) *
                                   tail.row_mask;
    store16(row + h - 16, updated[C - 1]);
    for (int c = C - 2; c >= 0; --c) store16(row + 16 * c, updated[c]);
  }
}

/// The same two products with plain loops, for any h.
inline void first_layer_forward_any(const sparse_batch& x, const float* w1,
                                    std::size_t h, float* out) {
  const std::size_t hp = padded_hidden(h);
  std::fill(out, out + x.rows * hp, 0.0f);
  for (std::size_t k = 0; k < x.pixels.size(); ++k) {
    const float* w = w1 + std::size_t{x.pixels[k]} * h;
    for (std::uint32_t e = x.starts[k]; e < x.starts[k + 1]; ++e) {
      float* o = out + std::size_t{x.rows_of[e]} * hp;
      const float v = x.values[e];
      for (std::size_t j = 0; j < h; ++j) o[j] += v * w[j];
    }
  }
}

inline void first_layer_update_any(const sparse_batch& x, const float* dz,
                                   std::size_t h, float learning_rate,
                                   float* w1) {
  const std::size_t hp = padded_hidden(h);
  for (std::size_t k = 0; k < x.pixels.size(); ++k) {
    float* w = w1 + std::size_t{x.pixels[k]} * h;
    for (std::uint32_t e = x.starts[k]; e < x.starts[k + 1]; ++e) {
      const float a = learning_rate * x.values[e];
      const float* d = dz + std::size_t{x.rows_of[e]} * hp;
      for (std::size_t j = 0; j < h; ++j) w[j] -= a * d[j];
    }
  }
}

/// Calls f(std::integral_constant<int, C>{}) with C the number of 16-lane
/// chunks of a row of h floats (1 to 8), or C = 0 for the plain loops.
template <class F>
void with_chunk_count(std::size_t h, F&& f) {
  switch (h < 16 ? 0 : (h + 15) / 16) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    case 8: return f(std::integral_constant<int, 8>{});
    default: return f(std::integral_constant<int, 0>{});
  }
}

/// out = X W1 (out: x.rows x padded_hidden(h)).
inline void first_layer_forward_dispatch(const sparse_batch& x,
                                         const float* w1, std::size_t h,
                                         float* out) {
  with_chunk_count(h, [&](auto chunks) {
    if constexpr (decltype(chunks)::value == 0) {
      first_layer_forward_any(x, w1, h, out);
    } else {
      first_layer_forward<decltype(chunks)::value>(x, w1, h, out);
    }
  });
}

/// W1 -= learning_rate X^T dz (dz: x.rows x padded_hidden(h)).
inline void first_layer_update_dispatch(const sparse_batch& x, const float* dz,
                                        std::size_t h, float learning_rate,
                                        float* w1) {
  with_chunk_count(h, [&](auto chunks) {
    if constexpr (decltype(chunks)::value == 0) {
      first_layer_update_any(x, dz, h, learning_rate, w1);
    } else {
      first_layer_update<decltype(chunks)::value>(x, dz, h, learning_rate, w1);
    }
  });
}

}  // namespace emnist::kernels
