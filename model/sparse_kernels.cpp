// Run-time choice of the first layer's kernels, and their scalar reference.
#include "model/sparse_kernels.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>

#include "model/mlp.hpp"
#include "model/sparse_kernels_isa.hpp"

namespace emnist::kernels {
namespace {

struct variant {
  isa which;
  forward_fn forward;
  update_fn update;
  forward_blocks_fn forward_blocks;
};

constexpr variant variants[] = {
    {isa::sse2, sse2::forward, sse2::update, sse2::forward_blocks},
    {isa::avx2, avx2::forward, avx2::update, avx2::forward_blocks},
    {isa::avx512, avx512::forward, avx512::update, avx512::forward_blocks},
};

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
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
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
                          "': expected sse2, avx2 or avx512 (this processor "
                          "runs: " +
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

}  // namespace emnist::kernels
