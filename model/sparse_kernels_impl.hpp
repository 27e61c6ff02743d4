// The first layer's two products for one instruction set, included by
// exactly one model/sparse_kernels_<isa>.cpp, which defines
// EMNIST_KERNEL_NAMESPACE (sse2, avx2, avx512) and EMNIST_KERNEL_LANES (the
// floats of its vector registers: 4, 8, 16) and is compiled with that
// instruction set's flags.
//
//   forward:  out = X W1        out: rows x hp, hp = h rounded up to 16
//   update:   W1 -= lr X^T dz   dz:  rows x hp
//   classes:  out[r] = argmax of row r of t W2 (the evaluator's second
//             layer, from tanh'd activations t)
//
// Vectors are GCC's vector extensions at the register width, so nothing is
// split or spilled (64-byte vectors on AVX2 went through the stack: a fifth
// of the speed). A row of W1 has h floats, read in C chunks of `lanes`; the
// last chunk is loaded so that it ends exactly at h (nothing past a row is
// touched) and its lanes are moved into place. C is a template parameter so
// that a row of W1 stays in registers; rows shorter than a vector or longer
// than 128 floats take plain loops.
//
// Everything here has internal linkage and calls no inline function of std
// or Eigen (see model/sparse_kernels_isa.hpp for why).
#pragma once

#if !defined(EMNIST_KERNEL_NAMESPACE) || !defined(EMNIST_KERNEL_LANES)
#error "define EMNIST_KERNEL_NAMESPACE and EMNIST_KERNEL_LANES first"
#endif

#include <cstddef>
#include <cstdint>

#include "model/sparse_kernels_isa.hpp"

namespace emnist::kernels::EMNIST_KERNEL_NAMESPACE {
namespace {

constexpr int lanes = EMNIST_KERNEL_LANES;
constexpr int max_chunks = 128 / lanes;
using vec = float __attribute__((vector_size(4 * lanes)));
using ivec = std::int32_t __attribute__((vector_size(4 * lanes)));

inline vec load(const float* p) {
  vec v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, vec v) {
  __builtin_memcpy(p, &v, sizeof v);
}
/// Lane j of the result is lane index[j] of v. g++ has a builtin for it;
/// clang (which builds only the fuzz targets, scripts/fuzz.sh) a loop.
inline vec permute(vec v, ivec index) {
#if defined(__clang__)
  vec r;
  for (int j = 0; j < lanes; ++j) r[j] = v[index[j]];
  return r;
#else
  return __builtin_shuffle(v, index);
#endif
}
/// Columns of the activation rows (model/mlp.hpp, padded_hidden).
inline std::size_t padded(std::size_t h) {
  return (h + 15) / 16 * 16;
}

/// How the last chunk of a row of h floats, loaded at h - lanes, maps to
/// the lanes (C - 1) lanes ... C lanes - 1 of an activation row, and back.
/// (An activation row has room: hp >= lanes C, as hp is a multiple of 16.)
struct tail_map {
  bool shifted;     ///< h is not a multiple of lanes
  ivec to_padded;   ///< lane j takes loaded lane j + s
  vec padded_mask;  ///< 1 for the real columns, 0 past h
  ivec to_row;      ///< lane j takes padded lane j - s
  vec row_mask;     ///< 0 for lanes that belong to the chunk before
  tail_map(std::size_t h, int chunks) {
    const int s = lanes * chunks - static_cast<int>(h);  // 0 .. lanes - 1
    shifted = s != 0;
    for (int j = 0; j < lanes; ++j) {
      to_padded[j] = j + s < lanes ? j + s : lanes - 1;
      padded_mask[j] = j + s < lanes ? 1.0f : 0.0f;
      to_row[j] = j >= s ? j - s : 0;
      row_mask[j] = j >= s ? 1.0f : 0.0f;
    }
  }
};

void zero(float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = 0.0f;
}

/// out = X W1, one sample at a time: the rows of W1 of its pixels add up,
/// scaled, in registers, and its activations are stored once. The last
/// chunk adds up unshifted (as loaded, ending at h) and is moved into place
/// at the end.
template <int C>
void forward_chunks(const sparse_view& x, const float* w1, std::size_t h,
                    float* out) {
  const std::size_t hp = padded(h);
  const tail_map tail(h, C);
  for (std::size_t r = 0; r < x.rows; ++r) {
    vec acc[C] = {};
    for (std::uint32_t e = x.row_starts[r]; e < x.row_starts[r + 1]; ++e) {
      const float* w = w1 + std::size_t{x.row_pixels[e]} * h;
      const float v = x.row_values[e];
      for (int c = 0; c + 1 < C; ++c) acc[c] += v * load(w + lanes * c);
      acc[C - 1] += v * load(w + h - lanes);
    }
    if (tail.shifted) {
      acc[C - 1] = permute(acc[C - 1], tail.to_padded) * tail.padded_mask;
    }
    float* o = out + r * hp;
    for (int c = 0; c < C; ++c) store(o + lanes * c, acc[c]);
    zero(o + lanes * C, hp - lanes * C);
  }
}

/// W1 -= learning_rate X^T dz, one pixel at a time, so that each touched
/// row of W1 is read and written once.
template <int C>
void update_chunks(const sparse_view& x, const float* dz, std::size_t h,
                   float learning_rate, float* w1) {
  const std::size_t hp = padded(h);
  const tail_map tail(h, C);
  for (std::size_t k = 0; k < x.pixel_count; ++k) {
    vec acc[C] = {};
    for (std::uint32_t e = x.starts[k]; e < x.starts[k + 1]; ++e) {
      const float* d = dz + std::size_t{x.rows_of[e]} * hp;
      const float v = x.values[e];
      for (int c = 0; c < C; ++c) acc[c] += v * load(d + lanes * c);
    }
    float* row = w1 + std::size_t{x.pixels[k]} * h;
    vec updated[C];
    for (int c = 0; c + 1 < C; ++c) {
      updated[c] = load(row + lanes * c) - learning_rate * acc[c];
    }
    vec last = acc[C - 1];
    if (tail.shifted) last = permute(last, tail.to_row) * tail.row_mask;
    // The last chunk ends at h; its first lanes overlap chunk C - 2 and
    // keep their old values here, so it is stored first and chunk C - 2
    // overwrites them with the updated ones.
    updated[C - 1] = load(row + h - lanes) - learning_rate * last;
    store(row + h - lanes, updated[C - 1]);
    for (int c = C - 2; c >= 0; --c) store(row + lanes * c, updated[c]);
  }
}

void forward_any(const sparse_view& x, const float* w1, std::size_t h,
                 float* out) {
  const std::size_t hp = padded(h);
  zero(out, x.rows * hp);
  for (std::size_t k = 0; k < x.pixel_count; ++k) {
    const float* w = w1 + std::size_t{x.pixels[k]} * h;
    for (std::uint32_t e = x.starts[k]; e < x.starts[k + 1]; ++e) {
      float* o = out + std::size_t{x.rows_of[e]} * hp;
      const float v = x.values[e];
      for (std::size_t j = 0; j < h; ++j) o[j] += v * w[j];
    }
  }
}

void update_any(const sparse_view& x, const float* dz, std::size_t h,
                float learning_rate, float* w1) {
  const std::size_t hp = padded(h);
  for (std::size_t k = 0; k < x.pixel_count; ++k) {
    float* w = w1 + std::size_t{x.pixels[k]} * h;
    for (std::uint32_t e = x.starts[k]; e < x.starts[k + 1]; ++e) {
      const float a = learning_rate * x.values[e];
      const float* d = dz + std::size_t{x.rows_of[e]} * hp;
      for (std::size_t j = 0; j < h; ++j) w[j] -= a * d[j];
    }
  }
}

/// Chunks of a row of h floats, or 0 for the plain loops.
int chunk_count(std::size_t h) {
  if (h < static_cast<std::size_t>(lanes)) return 0;
  const std::size_t c = (h + lanes - 1) / lanes;
  return c <= static_cast<std::size_t>(max_chunks) ? static_cast<int>(c) : 0;
}

template <int C>
void forward_with(int chunks, const sparse_view& x, const float* w1,
                  std::size_t h, float* out) {
  if constexpr (C > max_chunks) {
    forward_any(x, w1, h, out);
  } else if (chunks == C) {
    forward_chunks<C>(x, w1, h, out);
  } else {
    forward_with<C + 1>(chunks, x, w1, h, out);
  }
}

template <int C>
void update_with(int chunks, const sparse_view& x, const float* dz,
                 std::size_t h, float learning_rate, float* w1) {
  if constexpr (C > max_chunks) {
    update_any(x, dz, h, learning_rate, w1);
  } else if (chunks == C) {
    update_chunks<C>(x, dz, h, learning_rate, w1);
  } else {
    update_with<C + 1>(chunks, x, dz, h, learning_rate, w1);
  }
}

/// The first of the `classes` columns whose logit is the largest (0 when
/// none compares equal to it: NaN logits).
template <int C>
std::uint8_t first_largest(const vec (&logits)[C], std::size_t classes) {
  vec m = logits[0];
  for (int c = 1; c < C; ++c) m = logits[c] > m ? logits[c] : m;
  float best = m[0];
  for (int j = 1; j < lanes; ++j) best = m[j] > best ? m[j] : best;
  for (std::size_t k = 0; k < classes; ++k) {
    if (logits[k / lanes][k % lanes] == best) {
      return static_cast<std::uint8_t>(k);
    }
  }
  return 0;
}

/// The classes of t W2 two rows at a time (each row of W2 is loaded once
/// for both), C vectors of logits a row, starting from W2's last packed
/// row (0 for the classes, -inf past them, so that no padding wins).
template <int C>
void classes_chunks(const float* t, std::size_t rows, std::size_t tp,
                    std::size_t h, const float* w2, std::size_t classes,
                    std::uint8_t* out) {
  constexpr std::size_t cp = static_cast<std::size_t>(lanes) * C;
  const float* start = w2 + h * cp;
  std::size_t r = 0;
  for (; r + 2 <= rows; r += 2) {
    vec a[C], b[C];
    for (int c = 0; c < C; ++c) a[c] = b[c] = load(start + lanes * c);
    const float* ta = t + r * tp;
    const float* tb = ta + tp;
    for (std::size_t j = 0; j < h; ++j) {
      const float* w = w2 + j * cp;
      const float va = ta[j], vb = tb[j];
      for (int c = 0; c < C; ++c) {
        const vec wc = load(w + lanes * c);
        a[c] += va * wc;
        b[c] += vb * wc;
      }
    }
    out[r] = first_largest<C>(a, classes);
    out[r + 1] = first_largest<C>(b, classes);
  }
  for (; r < rows; ++r) {
    vec a[C];
    for (int c = 0; c < C; ++c) a[c] = load(start + lanes * c);
    const float* ta = t + r * tp;
    for (std::size_t j = 0; j < h; ++j) {
      for (int c = 0; c < C; ++c) a[c] += ta[j] * load(w2 + j * cp + lanes * c);
    }
    out[r] = first_largest<C>(a, classes);
  }
}

/// Any number of classes, one logit at a time.
void classes_any(const float* t, std::size_t rows, std::size_t tp,
                 std::size_t h, const float* w2, std::size_t classes,
                 std::uint8_t* out) {
  const std::size_t cp = padded(classes);
  for (std::size_t r = 0; r < rows; ++r) {
    std::size_t arg = 0;
    float best = 0.0f;
    for (std::size_t k = 0; k < classes; ++k) {
      float sum = 0.0f;
      for (std::size_t j = 0; j < h; ++j) sum += t[r * tp + j] * w2[j * cp + k];
      if (k == 0 || sum > best) {
        best = sum;
        arg = k;
      }
    }
    out[r] = static_cast<std::uint8_t>(arg);
  }
}

template <int C>
void classes_with(int chunks, const float* t, std::size_t rows, std::size_t tp,
                  std::size_t h, const float* w2, std::size_t classes,
                  std::uint8_t* out) {
  if constexpr (C > max_chunks) {
    classes_any(t, rows, tp, h, w2, classes, out);
  } else if (chunks == C) {
    classes_chunks<C>(t, rows, tp, h, w2, classes, out);
  } else {
    classes_with<C + 1>(chunks, t, rows, tp, h, w2, classes, out);
  }
}

}  // namespace

/// out = X W1 from W1 in blocks of 16 columns (kernels::pack_w1_blocks),
/// one block at a time: a block of every pixel's row is 16 floats, one
/// cache line, 50 KB for 784 pixels, so that a pass of the rows over one
/// block reads W1 from L1 rather than 7 lines of L2 per nonzero. Each row
/// sums its nonzeros into four partial sums (the adds of one would wait on
/// each other).
void forward_blocks(const sparse_view& x, const float* blocks,
                    std::size_t inputs, std::size_t h, float* out) {
  constexpr int per = 16 / lanes;  // vectors in a block's row
  const std::size_t hp = padded(h);
  for (std::size_t b = 0; b < hp / 16; ++b) {
    const float* w = blocks + b * inputs * 16;
    for (std::size_t r = 0; r < x.rows; ++r) {
      vec a[4][per] = {};
      // Nonzero e into partial sum s (a constant once inlined below).
      auto add = [&](int s, std::uint32_t e) {
        const float* row = w + std::size_t{x.row_pixels[e]} * 16;
        const float v = x.row_values[e];
        for (int k = 0; k < per; ++k) a[s][k] += v * load(row + lanes * k);
      };
      std::uint32_t e = x.row_starts[r];
      const std::uint32_t end = x.row_starts[r + 1];
      for (; e + 4 <= end; e += 4) {
        for (int s = 0; s < 4; ++s) add(s, e + s);
      }
      for (int s = 0; e < end; ++e, ++s) add(s, e);
      float* o = out + r * hp + b * 16;
      for (int k = 0; k < per; ++k) {
        store(o + lanes * k, (a[0][k] + a[1][k]) + (a[2][k] + a[3][k]));
      }
    }
  }
}

void forward(const sparse_view& x, const float* w1, std::size_t h, float* out) {
  const int chunks = chunk_count(h);
  if (chunks == 0) return forward_any(x, w1, h, out);
  forward_with<1>(chunks, x, w1, h, out);
}

void update(const sparse_view& x, const float* dz, std::size_t h,
            float learning_rate, float* w1) {
  const int chunks = chunk_count(h);
  if (chunks == 0) return update_any(x, dz, h, learning_rate, w1);
  update_with<1>(chunks, x, dz, h, learning_rate, w1);
}

void classes(const float* t, std::size_t rows, std::size_t tp, std::size_t h,
             const float* w2, std::size_t classes, std::uint8_t* out) {
  // Whole vectors: padded(classes) is a multiple of every lane count.
  const std::size_t chunks = padded(classes) / lanes;
  if (chunks > static_cast<std::size_t>(max_chunks)) {
    return classes_any(t, rows, tp, h, w2, classes, out);
  }
  classes_with<1>(static_cast<int>(chunks), t, rows, tp, h, w2, classes, out);
}

}  // namespace emnist::kernels::EMNIST_KERNEL_NAMESPACE
