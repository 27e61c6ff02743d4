// Every kernel variant this processor runs (its /proc/cpuinfo flags say
// which; the output names those it cannot run) against the scalar
// reference, on real minibatches and on hand-made edge cases; the two
// layouts of a sparse batch against the images they came from; choosing a
// variant by name.
#include "model/sparse_kernels.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "model/aligned_buffer.hpp"
#include "model/mlp.hpp"
#include "model/rng.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

/// Puts the fastest variant back when a test is done choosing.
struct restore_isa {
  kernels::isa saved = kernels::active_isa();
  ~restore_isa() { (void)kernels::use_isa(saved); }
};

/// A minibatch of `rows` real images starting at `first` (a stride through
/// the file), and one all-zero image when `with_blank`.
sparse_batch real_batch(std::size_t rows, std::size_t first, bool with_blank,
                        std::vector<std::vector<std::uint8_t>>& storage) {
  const auto& data = test::bymerge_data();
  storage.clear();
  std::vector<const std::uint8_t*> images;
  for (std::size_t r = 0; r < rows; ++r) {
    const std::uint8_t* img =
        data.train.image((first + 389 * r) % data.train.size());
    storage.emplace_back(img, img + 784);
  }
  if (with_blank) storage.back().assign(784, 0);
  for (const auto& s : storage) images.push_back(s.data());
  sparse_batch x;
  x.reserve(rows, 784);
  x.assign(images.data(), rows, 784);
  return x;
}

std::vector<float> random_floats(std::size_t n, std::uint64_t seed,
                                 float scale) {
  rng r(seed);
  std::vector<float> v(n);
  for (auto& f : v) f = r.uniform(-scale, scale);
  return v;
}

/// Largest |a - b| relative to max(1, |b|).
double worst_difference(const std::vector<float>& a,
                        const std::vector<float>& b) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const double d = std::abs(double(a[i]) - double(b[i])) /
                     std::max(1.0, std::abs(double(b[i])));
    worst = std::max(worst, d);
  }
  return worst;
}

/// A product's output for `rows` rows of hp columns: zeros past h in every
/// row, and all zeros for the last row (a blank image).
void check_padding_and_blank(const std::vector<float>& out, std::size_t rows,
                             std::size_t h, std::size_t hp) {
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = h; j < hp; ++j) REQUIRE(out[r * hp + j] == 0.0f);
  }
  for (std::size_t j = 0; j < hp; ++j) {
    REQUIRE(out[(rows - 1) * hp + j] == 0.0f);  // the blank image
  }
}

/// The variants this processor runs by /proc/cpuinfo's flags (the
/// operating system lists a flag only when it enables its registers): a
/// source apart from the kernels' own detection, so that a variant the
/// processor has cannot go untested unnoticed.
std::vector<kernels::isa> isas_from_cpuinfo() {
  std::ifstream in("/proc/cpuinfo");
  std::set<std::string> flags;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("flags", 0) != 0) continue;
    std::istringstream words(line.substr(line.find(':') + 1));
    for (std::string w; words >> w;) flags.insert(w);
    break;
  }
  REQUIRE(flags.count("sse2") == 1);  // every x86-64 has it
  std::vector<kernels::isa> out{kernels::isa::sse2};
  const bool avx2 = flags.count("avx2") == 1 && flags.count("fma") == 1;
  if (avx2) out.push_back(kernels::isa::avx2);
  const bool avx512 = avx2 && flags.count("avx512f") == 1 &&
                      flags.count("avx512bw") == 1 &&
                      flags.count("avx512vl") == 1;
  if (avx512) out.push_back(kernels::isa::avx512);
  if (avx512 && flags.count("amx_bf16") == 1 && flags.count("amx_tile") == 1) {
    out.push_back(kernels::isa::amx);
  }
  return out;
}

/// Says in the test's output which variants it runs here, and which it
/// cannot: a processor without AVX-512 leaves those kernels untested.
void report_variants() {
  const auto supported = kernels::supported_isas();
  std::string ran, skipped;
  for (const auto which : {kernels::isa::sse2, kernels::isa::avx2,
                           kernels::isa::avx512, kernels::isa::amx}) {
    const bool runs =
        std::find(supported.begin(), supported.end(), which) != supported.end();
    auto& list = runs ? ran : skipped;
    list += list.empty() ? "" : " ";
    list += kernels::isa_name(which);
  }
  MESSAGE("kernel variants tested: "
          << ran << "; not tested, this processor lacks them: "
          << (skipped.empty() ? "none" : skipped));
}

}  // namespace

TEST_CASE("sparse kernels: every variant equals the scalar reference") {
  restore_isa restore;
  report_variants();
  CHECK(kernels::supported_isas() == isas_from_cpuinfo());
  std::vector<std::vector<std::uint8_t>> storage;
  // Below, at and past each vector width (4, 8, 16), the model's 100, and
  // past the register-blocked range (128).
  const std::size_t hiddens[] = {1,  3,  4,  5,  7,   8,   9,   15,  16,
                                 17, 31, 33, 64, 100, 127, 128, 129, 200};
  for (const auto which : kernels::supported_isas()) {
    CAPTURE(kernels::isa_name(which));
    REQUIRE(kernels::use_isa(which));
    CHECK(kernels::active_isa() == which);
    for (const std::size_t h : hiddens) {
      CAPTURE(h);
      const std::size_t rows = 32;
      const auto x = real_batch(rows, 11 * h, /*with_blank=*/true, storage);
      const std::size_t hp = padded_hidden(h);
      const auto w1 = random_floats(784 * h, h, 0.5f);

      // Garbage in the output, so that a column left unwritten shows.
      std::vector<float> out(rows * hp, 7.0f), expected(rows * hp, -7.0f);
      kernels::first_layer_forward(x, w1.data(), h, out.data());
      kernels::first_layer_forward_reference(x, w1.data(), h, expected.data());
      CHECK(worst_difference(out, expected) < 1e-5);
      check_padding_and_blank(out, rows, h, hp);

      // The evaluator's product, from W1 packed in blocks of 16 columns
      // (aligned as the evaluator aligns it), agrees to rounding.
      aligned_buffer<float> blocks(784 * hp);
      kernels::pack_w1_blocks(w1.data(), 784, h, blocks.data());
      std::vector<float> by_blocks(rows * hp, 7.0f);
      kernels::first_layer_forward_blocks(x, blocks.data(), 784, h,
                                          by_blocks.data());
      CHECK(worst_difference(by_blocks, expected) < 1e-5);
      check_padding_and_blank(by_blocks, rows, h, hp);

      // The evaluator's product on the tile unit (amx; the others add up
      // the same bf16 parts in scalar code) from the images' bytes: W1's
      // three parts add up to it exactly, so only the sums round. All 32
      // rows (two tiles of 16), then 19 (a pass the rows do not fill).
      std::vector<const std::uint8_t*> images;
      for (const auto& img : storage) images.push_back(img.data());
      kernels::tile_product tiles(784, h);
      tiles.pack(w1.data());
      std::vector<float> by_tiles(rows * hp, 7.0f);
      tiles.forward(images.data(), rows, by_tiles.data());
      CHECK(worst_difference(by_tiles, expected) < 1e-5);
      check_padding_and_blank(by_tiles, rows, h, hp);
      std::vector<float> partial(rows * hp, 7.0f);
      tiles.forward(images.data(), 19, partial.data());
      CHECK(std::equal(partial.begin(), partial.begin() + 19 * hp,
                       by_tiles.begin()));
      CHECK(partial[19 * hp] == 7.0f);  // nothing past the rows asked for

      // The padding of dz is ignored: fill it with garbage.
      auto dz = random_floats(rows * hp, 100 + h, 1.0f);
      for (std::size_t r = 0; r < rows; ++r) {
        for (std::size_t j = h; j < hp; ++j) dz[r * hp + j] = 1e6f;
      }
      auto updated = w1, reference = w1;
      kernels::first_layer_update(x, dz.data(), h, 0.1f, updated.data());
      kernels::first_layer_update_reference(x, dz.data(), h, 0.1f,
                                            reference.data());
      CHECK(worst_difference(updated, reference) < 1e-5);
      // Rows of pixels that no sample has are untouched, bit for bit.
      std::vector<bool> active(784, false);
      for (const auto p : x.pixels) active[p] = true;
      for (std::size_t p = 0; p < 784; ++p) {
        if (active[p]) continue;
        for (std::size_t j = 0; j < h; ++j)
          REQUIRE(updated[p * h + j] == w1[p * h + j]);
      }
    }
  }
}

TEST_CASE("sparse kernels: every variant trains the same model") {
  restore_isa restore;
  report_variants();
  CHECK(kernels::supported_isas() == isas_from_cpuinfo());
  const auto& data = test::bymerge_data();
  const mlp_shape s{784, 100, data.classes};
  std::vector<float> first;
  for (const auto which : kernels::supported_isas()) {
    CAPTURE(kernels::isa_name(which));
    REQUIRE(kernels::use_isa(which));
    std::vector<float> params(s.size());
    init_parameters(s, 3, params);
    mlp_trainer trainer(s, 32, 0.2f, 5);
    std::vector<std::vector<std::uint8_t>> storage;
    std::vector<std::uint8_t> labels(32);
    for (std::size_t step = 0; step < 200; ++step) {
      const auto x = real_batch(32, step * 32, false, storage);
      for (std::size_t r = 0; r < 32; ++r) {
        labels[r] = data.train.label((step * 32 + 389 * r) % data.train.size());
      }
      trainer.step(params, x, labels.data(), 0.1f);
    }
    if (first.empty()) {
      first = params;
    } else {
      // Sums in another order round differently; 200 steps keep it small.
      CHECK(worst_difference(params, first) < 1e-3);
    }
  }
}

TEST_CASE(
    "sparse kernels: the tile product on images of any size, in passes of 32") {
  restore_isa restore;
  // Sizes that fill no k-tile (32 pixels) or column tile (16 units)
  // exactly; 70 images: two full passes of 32 and one of 6. Image 40 is
  // blank: its pass's k-tiles where all images are zero are skipped.
  for (const auto which : kernels::supported_isas()) {
    CAPTURE(kernels::isa_name(which));
    REQUIRE(kernels::use_isa(which));
    for (const std::size_t inputs : {1, 15, 37, 64, 100}) {
      const std::size_t h = 20, hp = padded_hidden(h), rows = 70;
      CAPTURE(inputs);
      rng r(inputs);
      std::vector<std::vector<std::uint8_t>> images(rows);
      std::vector<const std::uint8_t*> pointers;
      for (std::size_t i = 0; i < rows; ++i) {
        images[i].resize(inputs);
        for (auto& b : images[i]) {
          // Mostly zeros, as handwriting is.
          b = r() % 3 == 0 ? static_cast<std::uint8_t>(r() % 256) : 0;
        }
        if (i == 40) std::fill(images[i].begin(), images[i].end(), 0);
        pointers.push_back(images[i].data());
      }
      const auto w1 = random_floats(inputs * h, inputs + 1, 0.5f);
      kernels::tile_product tiles(inputs, h);
      tiles.pack(w1.data());
      std::vector<float> out(rows * hp, 7.0f);
      tiles.forward(pointers.data(), rows, out.data());
      double worst = 0;
      for (std::size_t i = 0; i < rows; ++i) {
        for (std::size_t j = 0; j < hp; ++j) {
          double sum = 0;
          for (std::size_t p = 0; p < inputs && j < h; ++p) {
            sum += double(images[i][p]) / 255.0 * double(w1[p * h + j]);
          }
          worst = std::max(worst, std::abs(out[i * hp + j] - sum));
        }
      }
      CHECK(worst < 1e-5);
    }
  }
}

TEST_CASE(
    "sparse kernels: every variant picks the class of the largest logit") {
  restore_isa restore;
  // Below, at and past each vector width, ByMerge's 47, ByClass's 62, and
  // past the register-held range (more than 128: plain loops).
  const std::size_t class_counts[] = {1, 2, 4, 15, 16, 17, 47, 62, 129};
  const std::size_t hiddens[] = {1, 7, 100};
  const std::size_t rows = 9;  // odd: the last row goes alone
  for (const auto which : kernels::supported_isas()) {
    CAPTURE(kernels::isa_name(which));
    REQUIRE(kernels::use_isa(which));
    for (const std::size_t classes : class_counts) {
      for (const std::size_t h : hiddens) {
        CAPTURE(classes);
        CAPTURE(h);
        const std::size_t tp = padded_hidden(h) + 3;  // wider rows than h
        auto t = random_floats(rows * tp, classes * 7 + h, 1.0f);
        const auto w2 = random_floats(h * classes, classes + 3 * h, 0.5f);
        // Row 0 all zeros: every logit 0, a tie the first class wins. Row
        // 1 NaN: no logit is the largest, class 0.
        std::fill(t.begin(), t.begin() + static_cast<std::ptrdiff_t>(tp), 0.0f);
        t[tp] = std::nanf("");
        std::vector<float> packed((h + 1) * padded_hidden(classes), 5.0f);
        kernels::pack_w2(w2.data(), h, classes, packed.data());
        std::vector<std::uint8_t> out(rows + 1, 255);
        kernels::predict_classes(t.data(), rows, tp, h, packed.data(), classes,
                                 out.data());
        CHECK(out[0] == 0);
        CHECK(out[1] == 0);
        CHECK(out[rows] == 255);  // nothing past the rows
        for (std::size_t r = 2; r < rows; ++r) {
          std::vector<double> logits(classes, 0.0);
          for (std::size_t k = 0; k < classes; ++k) {
            for (std::size_t j = 0; j < h; ++j) {
              logits[k] += double(t[r * tp + j]) * double(w2[j * classes + k]);
            }
          }
          const double best = *std::max_element(logits.begin(), logits.end());
          REQUIRE(out[r] < classes);
          // Sums in float, in another order: the chosen class is the
          // largest, or within rounding of it.
          CHECK(logits[out[r]] >= best - 1e-5);
        }
      }
    }
  }
}

TEST_CASE(
    "sparse batch: rows and columns hold the same nonzeros as the images") {
  std::vector<std::vector<std::uint8_t>> storage;
  const auto x = real_batch(32, 5, /*with_blank=*/true, storage);
  std::vector<float> by_rows(32 * 784, 0.0f), by_columns(32 * 784, 0.0f);
  for (std::size_t k = 0; k < x.pixels.size(); ++k) {
    for (auto e = x.starts[k]; e < x.starts[k + 1]; ++e) {
      by_columns[x.rows_of[e] * 784u + x.pixels[k]] = x.values[e];
    }
  }
  REQUIRE(x.row_starts.size() == 33);
  CHECK(x.row_starts.back() == x.nonzeros());
  for (std::size_t r = 0; r < 32; ++r) {
    for (auto e = x.row_starts[r]; e < x.row_starts[r + 1]; ++e) {
      if (e > x.row_starts[r]) REQUIRE(x.row_pixels[e - 1] < x.row_pixels[e]);
      by_rows[r * 784 + x.row_pixels[e]] = x.row_values[e];
    }
  }
  for (std::size_t r = 0; r < 32; ++r) {
    for (std::size_t p = 0; p < 784; ++p) {
      const float expected = float(storage[r][p]) / 255.0f;
      REQUIRE(by_rows[r * 784 + p] == doctest::Approx(expected));
      REQUIRE(by_columns[r * 784 + p] == by_rows[r * 784 + p]);
    }
  }
  CHECK(x.row_starts[32] == x.row_starts[31]);  // the blank image
}

TEST_CASE(
    "sparse batch: every variant finds the same nonzero pixels, by rows and "
    "by columns") {
  restore_isa restore;
  // Real images, a blank one and a full one (every pixel nonzero: the
  // most any row can hold, where a store of 16 past the end would overrun
  // without the slack), in widths that are and are not multiples of 16.
  const auto& data = test::bymerge_data();
  for (const std::size_t features : {784, 37, 5}) {
    CAPTURE(features);
    std::vector<std::vector<std::uint8_t>> images;
    for (std::size_t r = 0; r < 40; ++r) {  // two groups of 32 samples
      const std::uint8_t* img = data.train.image(1000 + 7 * r);
      images.emplace_back(img, img + features);
    }
    images.emplace_back(features, 0);
    images.emplace_back(features, 255);
    std::vector<const std::uint8_t*> pointers;
    for (const auto& img : images) pointers.push_back(img.data());
    const std::size_t rows = images.size();
    for (const auto which : kernels::supported_isas()) {
      CAPTURE(kernels::isa_name(which));
      REQUIRE(kernels::use_isa(which));
      sparse_batch x;
      x.reserve(rows, features);
      x.assign(pointers.data(), rows, features);
      for (std::size_t r = 0; r < rows; ++r) {
        std::uint32_t e = x.row_starts[r];
        for (std::size_t p = 0; p < features; ++p) {
          if (images[r][p] == 0) continue;
          REQUIRE(e < x.row_starts[r + 1]);
          REQUIRE(x.row_pixels[e] == p);
          REQUIRE(x.row_values[e] == float(images[r][p]) * (1.0f / 255.0f));
          ++e;
        }
        REQUIRE(e == x.row_starts[r + 1]);
      }
      CHECK(x.row_starts[rows] - x.row_starts[rows - 1] == features);
      // The columns: every nonzero once, pixels and their samples
      // ascending, the same values.
      REQUIRE(x.starts.size() == x.pixels.size() + 1);
      CHECK(x.nonzeros() == x.row_starts[rows]);
      for (std::size_t k = 0; k < x.pixels.size(); ++k) {
        if (k > 0) REQUIRE(x.pixels[k - 1] < x.pixels[k]);
        REQUIRE(x.starts[k] < x.starts[k + 1]);  // active: one sample at least
        for (auto e = x.starts[k]; e < x.starts[k + 1]; ++e) {
          if (e > x.starts[k]) REQUIRE(x.rows_of[e - 1] < x.rows_of[e]);
          const std::uint8_t byte = images[x.rows_of[e]][x.pixels[k]];
          REQUIRE(byte != 0);
          REQUIRE(x.values[e] == float(byte) * (1.0f / 255.0f));
        }
      }
    }
  }
}

TEST_CASE("sparse kernels: choosing a variant by name") {
  restore_isa restore;
  CHECK(kernels::parse_isa("avx2") == kernels::isa::avx2);
  CHECK_FALSE(kernels::parse_isa("avx3"));
  const auto supported = kernels::supported_isas();
  REQUIRE(!supported.empty());
  CHECK(supported.front() == kernels::isa::sse2);
  // The fastest one is in use unless chosen otherwise.
  CHECK(kernels::active_isa() == supported.back());

  ::setenv("EMNIST_KERNELS", "avx3", 1);
  auto bad = kernels::select_isa_from_environment();
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("EMNIST_KERNELS='avx3'") != std::string::npos);
  CHECK(bad.error().message.find("sse2") != std::string::npos);
  ::setenv("EMNIST_KERNELS", "sse2", 1);
  CHECK(kernels::select_isa_from_environment());
  CHECK(kernels::active_isa() == kernels::isa::sse2);
  ::unsetenv("EMNIST_KERNELS");
  CHECK(kernels::select_isa_from_environment());  // unset: nothing changes
  CHECK(kernels::active_isa() == kernels::isa::sse2);

  for (const auto which : {kernels::isa::avx512, kernels::isa::amx}) {
    if (std::find(supported.begin(), supported.end(), which) !=
        supported.end()) {
      continue;
    }
    auto refused = kernels::use_isa(which);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().message.find("does not support") !=
          std::string::npos);
  }
}
