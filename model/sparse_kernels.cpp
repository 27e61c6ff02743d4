// Run-time choice of the first layer's kernels, and their scalar reference.
#include "model/sparse_kernels.hpp"

#include <cpuid.h>
#include <emmintrin.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "model/mlp.hpp"
#include "model/sparse_kernels_isa.hpp"

namespace emnist::kernels {
namespace {

struct variant {
  isa which;
  forward_fn forward;
  update_fn update;
  forward_blocks_fn forward_blocks;
  classes_fn classes;
  nonzeros_fn nonzeros;
  columns_fn columns;  ///< null: sparse_batch sorts the rows instead
};

/// A sample's nonzero pixels 16 at a time with SSE2 (which every x86-64
/// has): a mask of the nonzero bytes, then each of its bits.
std::uint32_t append_nonzeros_sse2(const std::uint8_t* image,
                                   std::size_t features, float scale,
                                   std::uint16_t* pixels, float* values,
                                   std::uint32_t at) {
  std::size_t p = 0;
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  for (; p + 16 <= features; p += 16) {
    const __m128i v =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(image + p));
    unsigned nonzero =
        ~static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero))) &
        0xffffu;
    while (nonzero != 0) {
      const auto bit = static_cast<std::size_t>(__builtin_ctz(nonzero));
      nonzero &= nonzero - 1;
      pixels[at] = static_cast<std::uint16_t>(p + bit);
      values[at] = static_cast<float>(image[p + bit]) * scale;
      ++at;
    }
  }
#endif
  for (; p < features; ++p) {
    if (image[p] == 0) continue;
    pixels[at] = static_cast<std::uint16_t>(p);
    values[at] = static_cast<float>(image[p]) * scale;
    ++at;
  }
  return at;
}

constexpr variant variants[] = {
    {isa::sse2, sse2::forward, sse2::update, sse2::forward_blocks,
     sse2::classes, append_nonzeros_sse2, nullptr},
    {isa::avx2, avx2::forward, avx2::update, avx2::forward_blocks,
     avx2::classes, append_nonzeros_sse2, nullptr},
    {isa::avx512, avx512::forward, avx512::update, avx512::forward_blocks,
     avx512::classes, avx512::append_nonzeros, avx512::columns},
    {isa::amx, avx512::forward, avx512::update, avx512::forward_blocks,
     avx512::classes, avx512::append_nonzeros, avx512::columns},
};

bool processor_has_amx_bf16() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return false;
  constexpr unsigned amx_bf16 = 1u << 22, amx_tile = 1u << 24;
  return (d & amx_bf16) != 0 && (d & amx_tile) != 0;
}

/// Linux hands a process the tile state (XTILEDATA, feature 18) only on
/// request (arch_prctl ARCH_REQ_XCOMP_PERM, Linux 5.16 and later): until
/// then a tile instruction faults. Asked once; a refusal (an older kernel,
/// a seccomp filter) leaves the avx512 variant the fastest.
bool tile_data_granted() {
  static const bool granted = [] {
    constexpr int arch_req_xcomp_perm = 0x1023;
    constexpr int xfeature_xtiledata = 18;
    return syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) ==
           0;
  }();
  return granted;
}

bool processor_has(isa i) {
  // libgcc checks the operating system's support (XSAVE state) too.
  __builtin_cpu_init();
  switch (i) {
    case isa::sse2:
      return true;
    case isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case isa::avx512:
      return __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case isa::amx:
      return processor_has(isa::avx512) && processor_has_amx_bf16() &&
             tile_data_granted();
  }
  return false;
}

const variant& fastest() {
  static const variant& best = [&]() -> const variant& {
    for (auto i = std::size(variants); i-- > 0;) {
      if (processor_has(variants[i].which)) return variants[i];
    }
    return variants[0];
  }();
  return best;
}

/// Null until a variant is chosen by hand: then fastest() applies.
std::atomic<const variant*> chosen{nullptr};

const variant& current() {
  const variant* v = chosen.load(std::memory_order_relaxed);
  return v != nullptr ? *v : fastest();
}

sparse_view view_of(const sparse_batch& x) {
  return {x.rows,
          x.pixels.size(),
          x.pixels.data(),
          x.starts.data(),
          x.rows_of.data(),
          x.values.data(),
          x.row_starts.data(),
          x.row_pixels.data(),
          x.row_values.data()};
}

std::string supported_list() {
  std::string out;
  for (const auto i : supported_isas()) {
    out += out.empty() ? "" : ", ";
    out += isa_name(i);
  }
  return out;
}

}  // namespace

const char* isa_name(isa i) {
  switch (i) {
    case isa::sse2:
      return "sse2";
    case isa::avx2:
      return "avx2";
    case isa::avx512:
      return "avx512";
    case isa::amx:
      return "amx";
  }
  return "?";
}

std::optional<isa> parse_isa(std::string_view name) {
  for (const auto& v : variants) {
    if (name == isa_name(v.which)) return v.which;
  }
  return std::nullopt;
}

std::vector<isa> supported_isas() {
  std::vector<isa> out;
  for (const auto& v : variants) {
    if (processor_has(v.which)) out.push_back(v.which);
  }
  return out;
}

isa active_isa() {
  return current().which;
}

expected<void> use_isa(isa i) {
  if (!processor_has(i)) {
    return make_error(errc::invalid_argument,
                      std::string("kernels '") + isa_name(i) +
                          "': this processor does not support them (it "
                          "runs: " +
                          supported_list() + ")");
  }
  for (const auto& v : variants) {
    if (v.which == i) chosen.store(&v, std::memory_order_relaxed);
  }
  return {};
}

expected<void> select_isa_from_environment() {
  const char* name = std::getenv("EMNIST_KERNELS");
  if (name == nullptr || *name == '\0') return {};
  const auto i = parse_isa(name);
  if (!i) {
    return make_error(errc::invalid_argument,
                      std::string("EMNIST_KERNELS='") + name +
                          "': expected sse2, avx2, avx512 or amx (this "
                          "processor runs: " +
                          supported_list() + ")");
  }
  if (auto r = use_isa(*i); !r) {
    return make_error(errc::invalid_argument,
                      "EMNIST_KERNELS: " + r.error().message);
  }
  return {};
}

void first_layer_forward(const sparse_batch& x, const float* w1, std::size_t h,
                         float* out) {
  current().forward(view_of(x), w1, h, out);
}

void first_layer_update(const sparse_batch& x, const float* dz, std::size_t h,
                        float learning_rate, float* w1) {
  current().update(view_of(x), dz, h, learning_rate, w1);
}

void pack_w1_blocks(const float* w1, std::size_t inputs, std::size_t h,
                    float* blocks) {
  const std::size_t hp = padded_hidden(h);
  for (std::size_t b = 0; b < hp / 16; ++b) {
    const std::size_t first = b * 16;
    const std::size_t n = std::min<std::size_t>(16, h - first);
    for (std::size_t p = 0; p < inputs; ++p) {
      float* to = blocks + (b * inputs + p) * 16;
      std::copy_n(w1 + p * h + first, n, to);
      std::fill(to + n, to + 16, 0.0f);
    }
  }
}

void first_layer_forward_blocks(const sparse_batch& x, const float* blocks,
                                std::size_t inputs, std::size_t h, float* out) {
  current().forward_blocks(view_of(x), blocks, inputs, h, out);
}

std::uint32_t append_nonzeros(const std::uint8_t* image, std::size_t features,
                              float scale, std::uint16_t* pixels, float* values,
                              std::uint32_t at) {
  return current().nonzeros(image, features, scale, pixels, values, at);
}

bool build_columns(const std::uint8_t* const* images, sparse_batch& x,
                   std::uint16_t* masks, std::uint32_t* cursors) {
  const columns_fn columns = current().columns;
  if (columns == nullptr) return false;
  const std::size_t active =
      columns(images, x.rows, x.features, x.row_starts.data(),
              x.row_values.data(), x.pixels.data(), x.starts.data(),
              x.rows_of.data(), x.values.data(), masks, cursors);
  x.pixels.resize(active);
  x.starts.resize(active + 1);
  return true;
}

std::size_t column_scratch_size(std::size_t n, std::size_t features) {
  return (features + 15) / 16 * ((n + 31) / 32 * 32);
}

void pack_w2(const float* w2, std::size_t h, std::size_t classes,
             float* packed) {
  const std::size_t cp = padded_hidden(classes);
  for (std::size_t j = 0; j < h; ++j) {
    std::copy_n(w2 + j * classes, classes, packed + j * cp);
    std::fill(packed + j * cp + classes, packed + (j + 1) * cp, 0.0f);
  }
  float* start = packed + h * cp;
  std::fill(start, start + classes, 0.0f);
  std::fill(start + classes, start + cp,
            -std::numeric_limits<float>::infinity());
}

void predict_classes(const float* t, std::size_t rows, std::size_t tp,
                     std::size_t h, const float* w2_packed, std::size_t classes,
                     std::uint8_t* out) {
  current().classes(t, rows, tp, h, w2_packed, classes, out);
}

void first_layer_forward_reference(const sparse_batch& x, const float* w1,
                                   std::size_t h, float* out) {
  const std::size_t hp = padded_hidden(h);
  std::fill(out, out + x.rows * hp, 0.0f);
  for (std::size_t k = 0; k < x.pixels.size(); ++k) {
    const float* w = w1 + std::size_t{x.pixels[k]} * h;
    for (std::uint32_t e = x.starts[k]; e < x.starts[k + 1]; ++e) {
      float* o = out + std::size_t{x.rows_of[e]} * hp;
      for (std::size_t j = 0; j < h; ++j) o[j] += x.values[e] * w[j];
    }
  }
}

void first_layer_update_reference(const sparse_batch& x, const float* dz,
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

bool tiles_in_use() {
  return current().which == isa::amx;
}

namespace {

constexpr std::size_t tile_elements = 512;  // 16 rows of 32 bf16
constexpr std::size_t tile_rows = 32;       // images a pass of the tiles

std::size_t k_tiles_of(std::size_t inputs) {
  return (inputs + 31) / 32;
}

/// f rounded to bf16 (to nearest, ties to even; weights are finite).
std::uint16_t to_bf16(float f) {
  std::uint32_t bits = 0;
  std::memcpy(&bits, &f, sizeof bits);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<std::uint16_t>(bits >> 16);
}

float from_bf16(std::uint16_t b) {
  const std::uint32_t bits = std::uint32_t{b} << 16;
  float f = 0;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

/// Where part `part` of W1's row p, column n sits among the tiles.
std::size_t part_index(std::size_t part, std::size_t p, std::size_t n,
                       std::size_t k_tiles, std::size_t col_tiles) {
  const std::size_t t = p / 32, q = (p % 32) / 2, e = p % 2;
  const std::size_t j = n / 16, col = n % 16;
  return ((part * k_tiles + t) * col_tiles + j) * tile_elements + q * 32 +
         col * 2 + e;
}

}  // namespace

tile_product::tile_product(std::size_t inputs, std::size_t h)
    : inputs_(inputs),
      h_(h),
      parts_(3 * k_tiles_of(inputs) * (padded_hidden(h) / 16) * tile_elements),
      images_(2 * tile_rows * k_tiles_of(inputs) * 32),
      active_(2 * k_tiles_of(inputs)),
      sums_(tile_rows * padded_hidden(h)) {}

void tile_product::pack(const float* w1) {
  // hi + mid + lo == w exactly: each step takes the next 8 (or 9) bits of
  // the 24, and each remainder is exact in float (the difference of a
  // float and its rounding to fewer bits).
  const std::size_t k_tiles = k_tiles_of(inputs_);
  const std::size_t col_tiles = padded_hidden(h_) / 16;
  std::uint16_t* out = parts_.data();
  for (std::size_t p = 0; p < inputs_; ++p) {
    for (std::size_t n = 0; n < h_; ++n) {
      float rest = w1[p * h_ + n];
      for (std::size_t part = 0; part < 3; ++part) {
        const std::uint16_t b = to_bf16(rest);
        out[part_index(part, p, n, k_tiles, col_tiles)] = b;
        rest -= from_bf16(b);
      }
    }
  }
}

void tile_product::forward(const std::uint8_t* const* images, std::size_t rows,
                           float* out) {
  constexpr float pixel_scale = 1.0f / 255.0f;  // as sparse_batch's values
  if (tiles_in_use()) {
    amx::forward_tiles(images, rows, inputs_, parts_.data(), h_, pixel_scale,
                       out, {images_.data(), active_.data(), sums_.data()});
    return;
  }
  const std::size_t k_tiles = k_tiles_of(inputs_);
  const std::size_t hp = padded_hidden(h_);
  const std::size_t col_tiles = hp / 16;
  for (std::size_t r = 0; r < rows; ++r) {
    float* o = out + r * hp;
    std::fill(o, o + hp, 0.0f);
    for (std::size_t p = 0; p < inputs_; ++p) {
      const auto k = static_cast<float>(images[r][p]);
      for (std::size_t n = 0; n < h_; ++n) {
        for (std::size_t part = 0; part < 3; ++part) {
          o[n] +=
              k *
              from_bf16(
                  parts_.data()[part_index(part, p, n, k_tiles, col_tiles)]);
        }
      }
    }
    for (std::size_t n = 0; n < h_; ++n) o[n] *= pixel_scale;
  }
}

}  // namespace emnist::kernels
