// The network of the prototype, in float32 on preallocated buffers:
// inputs -> hidden tanh (no bias) with inverted dropout -> classes softmax
// (no bias), cross-entropy with the mean-over-batch gradient, plain SGD.
//
//   mlp_shape shape{784, 100, 47};
//   std::vector<float> params(shape.size());
//   init_parameters(shape, seed, params);
//   mlp_trainer trainer(shape, /*batch=*/32, /*dropout=*/0.2f, dropout_seed);
//   sparse_batch x;  x.reserve(32, 784);  x.assign(images, 32, 784);
//   float loss = trainer.step(params, x, labels, /*learning_rate=*/0.1f);
//   mlp_evaluator eval(shape, 512);
//   std::size_t right = eval.count_correct(params, test_view, 0,
//   test_view.size());
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "model/dataset.hpp"
#include "model/rng.hpp"
#include "model/sparse_batch.hpp"

namespace emnist {

struct mlp_shape {
  std::size_t inputs = 784;
  std::size_t hidden = 100;
  std::size_t classes = 47;
  std::size_t w1_size() const { return inputs * hidden; }
  std::size_t w2_size() const { return hidden * classes; }
  /// Number of parameters: W1 (inputs x hidden) then W2 (hidden x classes).
  std::size_t size() const { return w1_size() + w2_size(); }
  bool operator==(const mlp_shape&) const = default;
};

/// Columns of the activation buffers: hidden rounded up to 16, so that the
/// sparse kernels read and write whole vectors (the padding stays zero).
inline constexpr std::size_t padded_hidden(std::size_t hidden) {
  return (hidden + 15) / 16 * 16;
}

/// The prototype's initialisation: W1 uniform in [-0.01, 0.01), W2 uniform
/// in [-0.1, 0.1), from `seed`.
void init_parameters(const mlp_shape& shape, std::uint64_t seed,
                     std::span<float> out);

/// Trains on minibatches of a fixed size; owns every buffer it needs, so a
/// step allocates nothing. Not thread-safe: one per compute actor.
class mlp_trainer {
 public:
  mlp_trainer(const mlp_shape& shape, std::size_t batch, float dropout,
              std::uint64_t dropout_seed);
  ~mlp_trainer();
  mlp_trainer(const mlp_trainer&) = delete;
  mlp_trainer& operator=(const mlp_trainer&) = delete;

  /// One SGD step in place on `params` with a minibatch of batch() samples
  /// and their labels. Returns the mean loss before the update.
  float step(std::span<float> params, const sparse_batch& x,
             const std::uint8_t* labels, float learning_rate);

  std::size_t batch() const { return batch_; }

 private:
  struct buffers;
  const float* draw_mask();

  mlp_shape shape_;
  std::size_t batch_;
  float keep_scale_;          ///< 1 / (1 - dropout)
  std::uint32_t keep_below_;  ///< keep a unit when a draw is below this
  bool dropout_on_;
  rng rng_;
  std::unique_ptr<buffers> buf_;
};

/// Counts correct predictions over a data view, in chunks of rows made
/// sparse on the fly (the data stays uint8 in memory).
class mlp_evaluator {
 public:
  mlp_evaluator(const mlp_shape& shape, std::size_t chunk_rows);
  ~mlp_evaluator();
  mlp_evaluator(const mlp_evaluator&) = delete;
  mlp_evaluator& operator=(const mlp_evaluator&) = delete;

  /// Correct predictions among samples [begin, end) of `data`.
  std::size_t count_correct(std::span<const float> params,
                            const data_view& data, std::size_t begin,
                            std::size_t end);
  /// The same in steps: load() takes the parameters (packs W1 and W2 for
  /// the products, once; `params` may change or go after it),
  /// count_loaded() scores rows with them: an evaluation in chunks packs
  /// once, not once a chunk.
  void load(std::span<const float> params);
  std::size_t count_loaded(const data_view& data, std::size_t begin,
                           std::size_t end);
  /// The predicted class of each sample in [begin, end) of `data`, into
  /// `out` (end - begin of them): the same arithmetic as count_correct.
  void predict(std::span<const float> params, const data_view& data,
               std::size_t begin, std::size_t end, std::span<std::uint8_t> out);
  std::size_t chunk_rows() const { return chunk_rows_; }

 private:
  struct buffers;
  /// The nonzero pixels of samples [at, at + rows) of `data`: kept from an
  /// earlier evaluation of the same data, or found now (and kept, while
  /// they fit in kept_bytes_max).
  const sparse_batch& rows_of(const data_view& data, std::size_t at,
                              std::size_t rows);
  /// Rows kept between evaluations: the standard split's 16,323 rows take
  /// about 20 MB; a larger evaluation set keeps its first chunks only.
  static constexpr std::size_t kept_bytes_max = std::size_t{64} << 20;
  /// Predicts `rows` samples from `at` into buf_->predicted, with the
  /// loaded parameters.
  void predict_chunk(const data_view& data, std::size_t at, std::size_t rows);
  mlp_shape shape_;
  std::size_t chunk_rows_;
  std::unique_ptr<buffers> buf_;
};

}  // namespace emnist
