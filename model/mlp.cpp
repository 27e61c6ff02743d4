// float32 instances of the network math (mlp_math.hpp) with their buffers.
#include "model/mlp.hpp"

#include <cmath>
#include <memory>

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

#include "model/mlp_math.hpp"
#include "model/sparse_kernels.hpp"

namespace emnist {
namespace {

/// Flushes denormal floats to zero while in scope. Training produces
/// denormal activations and gradients now and then; each costs the
/// processor a slow microcode path, and they round to nothing anyway.
/// Measured: 264k -> 313k samples/s on one core (docs/benchmarks.md).
class flush_denormals {
 public:
#if defined(__SSE__)
  flush_denormals() : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ | 0x8040);
  }
  ~flush_denormals() {
    _mm_setcsr(saved_);
  }

 private:
  unsigned saved_;
#endif
};

}  // namespace

void init_parameters(const mlp_shape& shape, std::uint64_t seed,
                     std::span<float> out) {
  rng r(seed);
  for (std::size_t i = 0; i < shape.w1_size(); ++i) {
    out[i] = r.uniform(-0.01f, 0.01f);
  }
  for (std::size_t i = shape.w1_size(); i < shape.size(); ++i) {
    out[i] = r.uniform(-0.1f, 0.1f);
  }
}

struct mlp_trainer::buffers {
  math::workspace<float> work;
  math::matrix<float> mask;
  buffers(const mlp_shape& s, std::size_t batch)
      : work(s, batch), mask(batch, s.hidden) {}
};

mlp_trainer::mlp_trainer(const mlp_shape& shape, std::size_t batch,
                         float dropout, std::uint64_t dropout_seed)
    : shape_(shape),
      batch_(batch),
      keep_scale_(1.0f / (1.0f - dropout)),
      keep_below_(static_cast<std::uint32_t>(
          std::ldexp(1.0 - static_cast<double>(dropout), 32) - 1)),
      dropout_on_(dropout > 0.0f),
      rng_(dropout_seed),
      buf_(std::make_unique<buffers>(shape, batch)) {}

mlp_trainer::~mlp_trainer() = default;

const float* mlp_trainer::draw_mask() {
  if (!dropout_on_) return nullptr;
  // Two 32-bit draws per 64-bit number: 1600 calls for 32 x 100 units.
  float* m = buf_->mask.data();
  const std::size_t n = static_cast<std::size_t>(buf_->mask.size());
  for (std::size_t i = 0; i < n; i += 2) {
    const std::uint64_t v = rng_();
    m[i] = static_cast<std::uint32_t>(v) < keep_below_ ? keep_scale_ : 0.0f;
    if (i + 1 < n) {
      m[i + 1] = static_cast<std::uint32_t>(v >> 32) < keep_below_ ? keep_scale_
                                                                   : 0.0f;
    }
  }
  return m;
}

float mlp_trainer::step(std::span<float> params, const sparse_batch& x,
                        const std::uint8_t* labels, float learning_rate) {
  const flush_denormals ftz;
  const std::size_t h = shape_.hidden;
  float* w1 = params.data();
  auto& work = buf_->work;
  kernels::first_layer_forward(x, w1, h, work.activation.data());
  const float loss = math::hidden_and_output_step<float>(
      shape_, w1 + shape_.w1_size(), labels, draw_mask(), batch_, work,
      learning_rate);
  kernels::first_layer_update(x, work.dhidden.data(), h, learning_rate, w1);
  return loss;
}

// Evaluation goes through a sparse forward product of the same kernels, by
// sample, with the fastest variant the processor has (the dense product ran
// at the build's instruction set: a portable build evaluated with SSE2),
// from W1 packed in blocks (w1_blocks below); on a processor with AMX,
// through kernels::tile_product (tiles below).
struct mlp_evaluator::buffers {
  sparse_batch x;
  std::vector<const std::uint8_t*> images;
  math::matrix<float> hidden;
  std::vector<std::uint8_t> predicted;
  // The rows of the chunks evaluated before, kept: an evaluator scores the
  // same data every time, and finding a chunk's nonzero pixels cost about
  // as much as the product itself. Kept in order from the first chunk, up
  // to kept_bytes_max; `kept_first` and `kept_size` say which data.
  const std::uint8_t* kept_first = nullptr;
  std::size_t kept_size = 0;
  std::vector<sparse_batch> kept;
  std::size_t kept_bytes = 0;
  // W1 in blocks of 16 columns (kernels::pack_w1_blocks): the forward
  // product reads a row of W1 for each nonzero pixel of each row, and
  // from W1 as the trainer keeps it (rows of 100 floats, seven cache
  // lines of L2 each) an evaluation ran at 447k rows/s; by blocks, which
  // L1 holds, at 2x that and more (docs/benchmarks.md, Evaluation).
  // Made at the first load() that uses it.
  aligned_buffer<float> w1_blocks;
  // Where the processor has AMX (kernels::tiles_in_use() at load()), the
  // product runs on its tiles instead, dense from the images' bytes: made
  // at the first such load.
  std::unique_ptr<kernels::tile_product> tiles;
  bool use_tiles = false;
  // W2 as kernels::predict_classes reads it: the second layer and the
  // choice of the largest logit in one pass, a row's logits in registers
  // (Eigen's product into a logits matrix, then a pass over it for each
  // row's largest, took a third of an evaluation on the tiles).
  aligned_buffer<float> w2_packed;
  buffers(const mlp_shape& s, std::size_t rows)
      : images(rows),
        hidden(math::matrix<float>::Zero(rows, padded_hidden(s.hidden))),
        predicted(rows),
        w2_packed((s.hidden + 1) * padded_hidden(s.classes)) {
    x.reserve(rows, s.inputs);
  }
};

mlp_evaluator::mlp_evaluator(const mlp_shape& shape, std::size_t chunk_rows)
    : shape_(shape),
      chunk_rows_(chunk_rows),
      buf_(std::make_unique<buffers>(shape, chunk_rows)) {}

mlp_evaluator::~mlp_evaluator() = default;

const sparse_batch& mlp_evaluator::rows_of(const data_view& data,
                                           std::size_t at, std::size_t rows) {
  auto& b = *buf_;
  const std::uint8_t* first = data.size() > 0 ? data.image(0) : nullptr;
  if (first != b.kept_first || data.size() != b.kept_size) {
    b.kept.clear();
    b.kept_bytes = 0;
    b.kept_first = first;
    b.kept_size = data.size();
  }
  const std::size_t k = at / chunk_rows_;
  const bool aligned = at % chunk_rows_ == 0;
  if (aligned && k < b.kept.size() && b.kept[k].rows == rows) return b.kept[k];
  for (std::size_t r = 0; r < rows; ++r) b.images[r] = data.image(at + r);
  b.x.assign_rows(b.images.data(), rows, data.features());
  const std::size_t nonzeros = b.x.row_starts[rows];
  const std::size_t bytes = (rows + 1) * sizeof(std::uint32_t) +
                            nonzeros * (sizeof(std::uint16_t) + sizeof(float));
  if (!aligned || k != b.kept.size() || b.kept_bytes + bytes > kept_bytes_max) {
    return b.x;
  }
  // A compact copy: the rows only, as long as they are.
  sparse_batch c;
  c.rows = rows;
  c.features = b.x.features;
  c.row_starts.assign(
      b.x.row_starts.begin(),
      b.x.row_starts.begin() + static_cast<std::ptrdiff_t>(rows + 1));
  c.row_pixels.assign(
      b.x.row_pixels.begin(),
      b.x.row_pixels.begin() + static_cast<std::ptrdiff_t>(nonzeros));
  c.row_values.assign(
      b.x.row_values.begin(),
      b.x.row_values.begin() + static_cast<std::ptrdiff_t>(nonzeros));
  b.kept.push_back(std::move(c));
  b.kept_bytes += bytes;
  return b.kept.back();
}

void mlp_evaluator::load(std::span<const float> params) {
  auto& b = *buf_;
  b.use_tiles = kernels::tiles_in_use();
  if (b.use_tiles) {
    if (!b.tiles) {
      b.tiles =
          std::make_unique<kernels::tile_product>(shape_.inputs, shape_.hidden);
    }
    b.tiles->pack(params.data());
  } else {
    if (b.w1_blocks.size() == 0) {
      b.w1_blocks =
          aligned_buffer<float>(shape_.inputs * padded_hidden(shape_.hidden));
    }
    kernels::pack_w1_blocks(params.data(), shape_.inputs, shape_.hidden,
                            b.w1_blocks.data());
  }
  kernels::pack_w2(params.data() + shape_.w1_size(), shape_.hidden,
                   shape_.classes, b.w2_packed.data());
}

void mlp_evaluator::predict_chunk(const data_view& data, std::size_t at,
                                  std::size_t rows) {
  auto& b = *buf_;
  if (b.use_tiles) {
    for (std::size_t r = 0; r < rows; ++r) b.images[r] = data.image(at + r);
    b.tiles->forward(b.images.data(), rows, b.hidden.data());
  } else {
    kernels::first_layer_forward_blocks(rows_of(data, at, rows),
                                        b.w1_blocks.data(), shape_.inputs,
                                        shape_.hidden, b.hidden.data());
  }
  const auto n = static_cast<Eigen::Index>(rows);
  const auto h = static_cast<Eigen::Index>(shape_.hidden);
  auto activations = b.hidden.topRows(n).leftCols(h);
  activations = activations.array().tanh();
  kernels::predict_classes(b.hidden.data(), rows, padded_hidden(shape_.hidden),
                           shape_.hidden, b.w2_packed.data(), shape_.classes,
                           b.predicted.data());
}

std::size_t mlp_evaluator::count_correct(std::span<const float> params,
                                         const data_view& data,
                                         std::size_t begin, std::size_t end) {
  load(params);
  return count_loaded(data, begin, end);
}

std::size_t mlp_evaluator::count_loaded(const data_view& data,
                                        std::size_t begin, std::size_t end) {
  const flush_denormals ftz;
  std::size_t correct = 0;
  for (std::size_t at = begin; at < end; at += chunk_rows_) {
    const std::size_t rows = std::min(chunk_rows_, end - at);
    predict_chunk(data, at, rows);
    for (std::size_t r = 0; r < rows; ++r) {
      correct += buf_->predicted[r] == data.label(at + r) ? 1 : 0;
    }
  }
  return correct;
}

void mlp_evaluator::predict(std::span<const float> params,
                            const data_view& data, std::size_t begin,
                            std::size_t end, std::span<std::uint8_t> out) {
  const flush_denormals ftz;
  load(params);
  for (std::size_t at = begin; at < end; at += chunk_rows_) {
    const std::size_t rows = std::min(chunk_rows_, end - at);
    predict_chunk(data, at, rows);
    std::copy_n(buf_->predicted.begin(), rows,
                out.begin() + static_cast<std::ptrdiff_t>(at - begin));
  }
}

}  // namespace emnist
