// The products of the first layer with a sparse input, vectorised with
// GCC's portable vector extensions (AVX-512, AVX2 or SSE, whatever the
// build targets). Internal to model/: mlp.cpp is the only user.
//
// A row of W1 (or of dZ) has `h` floats. It is covered by chunks of 16
// whose last one ends exactly at h, overlapping the one before it when
// h % 16 != 0: nothing past a row is ever read or written, no lane needs a
// mask, and overlapping lanes are computed twice identically. The chunk
// count is a template parameter so that the accumulators live in
// registers; hidden sizes outside [16, 128] take the plain loops.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "model/sparse_batch.hpp"

namespace emnist::kernels {

using vec16 = float __attribute__((vector_size(64)));

inline vec16 load16(const float* p) {
  vec16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, vec16 v) { std::memcpy(p, &v, sizeof v); }

template <int C>
struct chunk_offsets {
  std::size_t at[C];
  explicit chunk_offsets(std::size_t h) {
    for (int c = 0; c < C; ++c) at[c] = std::min<std::size_t>(16 * c, h - 16);
  }
};

/// out (x.rows x h, row-major) = X W1, walking the nonzeros of each sample.
template <int C>
void first_layer_forward(const sparse_batch& x, const float* w1, std::size_t h,
                         float* out) {
  const chunk_offsets<C> off(h);
  for (std::size_t r = 0; r < x.rows; ++r) {
    vec16 acc[C] = {};
    for (std::uint32_t e = x.row_start[r]; e < x.row_start[r + 1]; ++e) {
      const float v = x.row_value[e];
      const float* w = w1 + std::size_t{x.row_pixel[e]} * h;
      for (int c = 0; c < C; ++c) acc[c] += v * load16(w + off.at[c]);
    }
    float* o = out + r * h;
    for (int c = 0; c < C; ++c) store16(o + off.at[c], acc[c]);
  }
}

/// W1 -= learning_rate * X^T dz, walking the nonzeros of each pixel, so
/// that each touched row of W1 is read and written once.
template <int C>
void first_layer_update(const sparse_batch& x, const float* dz, std::size_t h,
                        float learning_rate, float* w1) {
  const chunk_offsets<C> off(h);
  for (std::size_t k = 0; k < x.pixels.size(); ++k) {
    vec16 acc[C] = {};
    for (std::uint32_t e = x.pixel_start[k]; e < x.pixel_start[k + 1]; ++e) {
      const float v = x.pixel_value[e];
      const float* d = dz + std::size_t{x.pixel_row[e]} * h;
      for (int c = 0; c < C; ++c) acc[c] += v * load16(d + off.at[c]);
    }
    float* w = w1 + std::size_t{x.pixels[k]} * h;
    vec16 updated[C];
    for (int c = 0; c < C; ++c) {
      updated[c] = load16(w + off.at[c]) - learning_rate * acc[c];
    }
    for (int c = 0; c < C; ++c) store16(w + off.at[c], updated[c]);
  }
}

/// The same two products with plain loops, for any h.
inline void first_layer_forward_any(const sparse_batch& x, const float* w1,
                                    std::size_t h, float* out) {
  std::fill(out, out + x.rows * h, 0.0f);
  for (std::size_t r = 0; r < x.rows; ++r) {
    float* o = out + r * h;
    for (std::uint32_t e = x.row_start[r]; e < x.row_start[r + 1]; ++e) {
      const float v = x.row_value[e];
      const float* w = w1 + std::size_t{x.row_pixel[e]} * h;
      for (std::size_t j = 0; j < h; ++j) o[j] += v * w[j];
    }
  }
}

inline void first_layer_update_any(const sparse_batch& x, const float* dz,
                                   std::size_t h, float learning_rate,
                                   float* w1) {
  for (std::size_t k = 0; k < x.pixels.size(); ++k) {
    float* w = w1 + std::size_t{x.pixels[k]} * h;
    for (std::uint32_t e = x.pixel_start[k]; e < x.pixel_start[k + 1]; ++e) {
      const float a = learning_rate * x.pixel_value[e];
      const float* d = dz + std::size_t{x.pixel_row[e]} * h;
      for (std::size_t j = 0; j < h; ++j) w[j] -= a * d[j];
    }
  }
}

/// Picks the vectorised kernel for h, or the plain loops.
template <template <int> class Kernel, class... Args>
void dispatch(std::size_t h, Args&&... args) {
  switch (h < 16 ? 0 : (h + 15) / 16) {
    case 1: return Kernel<1>::run(args...);
    case 2: return Kernel<2>::run(args...);
    case 3: return Kernel<3>::run(args...);
    case 4: return Kernel<4>::run(args...);
    case 5: return Kernel<5>::run(args...);
    case 6: return Kernel<6>::run(args...);
    case 7: return Kernel<7>::run(args...);
    case 8: return Kernel<8>::run(args...);
    default: return Kernel<0>::run(args...);
  }
}

template <int C>
struct forward_kernel {
  static void run(const sparse_batch& x, const float* w1, std::size_t h,
                  float* out) {
    if constexpr (C == 0) {
      first_layer_forward_any(x, w1, h, out);
    } else {
      first_layer_forward<C>(x, w1, h, out);
    }
  }
};

template <int C>
struct update_kernel {
  static void run(const sparse_batch& x, const float* dz, std::size_t h,
                  float learning_rate, float* w1) {
    if constexpr (C == 0) {
      first_layer_update_any(x, dz, h, learning_rate, w1);
    } else {
      first_layer_update<C>(x, dz, h, learning_rate, w1);
    }
  }
};

}  // namespace emnist::kernels
