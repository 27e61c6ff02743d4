// The network: finite-difference gradient check (in double, through the
// very update code training uses), learning, determinism.
#include "model/mlp.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "model/mlp_math.hpp"
#include "test_support.hpp"

using namespace emnist;

TEST_CASE("mlp: gradient matches finite differences (with dropout mask)") {
  const mlp_shape s{12, 7, 5};
  const std::size_t batch = 4;
  rng r(42);
  std::vector<double> params(s.size()), x(batch * s.inputs),
      mask(batch * s.hidden);
  for (auto& p : params) p = r.uniform(-0.5f, 0.5f);
  for (auto& v : x) v = r.uniform(0.0f, 1.0f);
  for (auto& m : mask) m = r.uniform(0, 1) < 0.25f ? 0.0 : 1.0 / 0.75;
  const std::vector<std::uint8_t> labels{0, 3, 4, 3};
  math::workspace<double> w(s, batch);

  auto loss_at = [&](const std::vector<double>& p) {
    auto copy = p;
    return math::train_step<double>(s, copy.data(), x.data(), labels.data(),
                                    mask.data(), batch, w, 0.0);
  };
  // With learning rate 1 the update is exactly -gradient.
  auto updated = params;
  const double loss = math::train_step<double>(
      s, updated.data(), x.data(), labels.data(), mask.data(), batch, w, 1.0);
  CHECK(loss == doctest::Approx(loss_at(params)));

  double worst = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const double analytic = params[i] - updated[i];
    auto plus = params;
    auto minus = params;
    const double h = 1e-6;
    plus[i] += h;
    minus[i] -= h;
    const double numeric = (loss_at(plus) - loss_at(minus)) / (2 * h);
    const double scale =
        std::max({std::abs(analytic), std::abs(numeric), 1e-4});
    worst = std::max(worst, std::abs(analytic - numeric) / scale);
  }
  // Central differences in double: about 1e-6 of rounding noise; a wrong
  // term of the gradient shows as an error of order 1.
  CHECK(worst < 1e-5);
}

TEST_CASE("mlp: init follows the prototype's ranges") {
  const mlp_shape s{784, 100, 47};
  std::vector<float> p(s.size());
  init_parameters(s, 5, p);
  float w1_max = 0;
  float w2_max = 0;
  for (std::size_t i = 0; i < s.w1_size(); ++i)
    w1_max = std::max(w1_max, std::abs(p[i]));
  for (std::size_t i = s.w1_size(); i < s.size(); ++i)
    w2_max = std::max(w2_max, std::abs(p[i]));
  CHECK(w1_max <= 0.01f);
  CHECK(w1_max > 0.009f);
  CHECK(w2_max <= 0.1f);
  CHECK(w2_max > 0.09f);
}

TEST_CASE("mlp: float training on real data learns, deterministically") {
  const auto& data = test::bymerge_data();
  const mlp_shape s{784, 100, data.classes};
  const std::size_t batch = 32;
  auto train = [&](std::uint64_t seed) {
    std::vector<float> p(s.size());
    init_parameters(s, 1, p);
    mlp_trainer trainer(s, batch, 0.2f, seed);
    sparse_batch x;
    x.reserve(batch, 784);
    std::vector<const std::uint8_t*> images(batch);
    std::vector<std::uint8_t> y(batch);
    for (std::size_t step = 0; step < 600; ++step) {
      for (std::size_t r = 0; r < batch; ++r) {
        const std::size_t i = (step * batch + r) % data.train.size();
        images[r] = data.train.image(i);
        y[r] = data.train.label(i);
      }
      x.assign(images.data(), batch, 784);
      trainer.step(p, x, y.data(), 0.1f);
    }
    return p;
  };
  const auto a = train(9);
  const auto b = train(9);
  const auto c = train(10);
  CHECK(a == b);
  CHECK(a != c);
  mlp_evaluator eval(s, 1000);
  const double acc =
      double(eval.count_correct(a, data.eval, 0, data.eval.size())) /
      double(data.eval.size());
  // 600 steps of 32 samples: well past chance (1/47), short of converged.
  CHECK(acc > 0.5);
  // Chunking does not change the count.
  mlp_evaluator small(s, 7);
  CHECK(small.count_correct(a, data.eval, 0, 1000) ==
        eval.count_correct(a, data.eval, 0, 1000));
}

namespace {

/// Trains `steps` minibatches of real data with the float sparse path and
/// with the double dense reference from the same start, no dropout; returns
/// the largest parameter difference.
double sparse_vs_dense(std::size_t hidden, std::size_t steps) {
  const auto& data = test::bymerge_data();
  const mlp_shape s{784, hidden, data.classes};
  const std::size_t batch = 32;
  std::vector<float> sparse_params(s.size());
  init_parameters(s, 3, sparse_params);
  std::vector<double> dense_params(sparse_params.begin(), sparse_params.end());
  mlp_trainer trainer(s, batch, 0.0f, 1);
  math::workspace<double> w(s, batch);
  sparse_batch x;
  x.reserve(batch, 784);
  std::vector<const std::uint8_t*> images(batch);
  std::vector<double> dense_x(batch * 784);
  std::vector<std::uint8_t> y(batch);
  for (std::size_t step = 0; step < steps; ++step) {
    for (std::size_t r = 0; r < batch; ++r) {
      const std::size_t i = 977 * (step * batch + r) % data.train.size();
      images[r] = data.train.image(i);
      y[r] = data.train.label(i);
      for (std::size_t p = 0; p < 784; ++p) {
        dense_x[r * 784 + p] = images[r][p] / 255.0;
      }
    }
    x.assign(images.data(), batch, 784);
    CHECK(x.pixels.size() < 784);  // some pixels are zero in every sample
    CHECK(x.nonzeros() < batch * 784 / 2);
    const float sparse_loss = trainer.step(sparse_params, x, y.data(), 0.1f);
    const double dense_loss =
        math::train_step<double>(s, dense_params.data(), dense_x.data(),
                                 y.data(), nullptr, batch, w, 0.1);
    CHECK(sparse_loss == doctest::Approx(dense_loss).epsilon(1e-4));
  }
  double worst = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    worst = std::max(worst, std::abs(sparse_params[i] - dense_params[i]));
  }
  return worst;
}

}  // namespace

TEST_CASE("mlp: the sparse float step equals the dense reference step") {
  // Chunks of 16 with a partial last one (100, 17, 33, 127), exact chunks
  // (16, 64, 128), and the plain loops (10, 200).
  for (std::size_t hidden : {100u, 17u, 33u, 127u, 16u, 64u, 128u, 10u, 200u}) {
    CAPTURE(hidden);
    CHECK(sparse_vs_dense(hidden, 20) < 1e-4);
  }
}

TEST_CASE("mlp: the evaluator agrees with a dense forward pass") {
  const auto& data = test::bymerge_data();
  const mlp_shape s{784, 100, data.classes};
  std::vector<float> p(s.size());
  init_parameters(s, 4, p);
  for (std::size_t i = 0; i < s.w1_size(); ++i) p[i] *= 30;  // not all-same
  // The reference: both layers written out in double with plain loops,
  // nothing of the evaluator's code. W1 is inputs x hidden and W2 hidden x
  // classes, row-major.
  const float* w1 = p.data();
  const float* w2 = p.data() + s.w1_size();
  const std::size_t n = 500;
  // The samples, labelled with the reference's predictions: the evaluator
  // must find every one "correct".
  struct owned_rows {
    std::vector<std::uint8_t> pixels, labels;
  };
  auto rows = std::make_shared<owned_rows>(
      owned_rows{{data.eval.image(0), data.eval.image(0) + n * 784},
                 std::vector<std::uint8_t>(n)});
  auto predicted = std::make_shared<labeled_images>();
  predicted->count = n;
  predicted->features = s.inputs;
  predicted->held = {0, n};
  predicted->pixels = rows->pixels;
  predicted->labels = rows->labels;
  predicted->storage = rows;
  std::vector<bool> near_tie(n);
  std::vector<double> hidden(s.hidden), logits(s.classes);
  std::vector<std::size_t> per_class(s.classes);
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint8_t* image = data.eval.image(i);
    for (std::size_t j = 0; j < s.hidden; ++j) {
      double z = 0;
      for (std::size_t k = 0; k < s.inputs; ++k) {
        z += image[k] / 255.0 * w1[k * s.hidden + j];
      }
      hidden[j] = std::tanh(z);
    }
    for (std::size_t c = 0; c < s.classes; ++c) {
      double z = 0;
      for (std::size_t j = 0; j < s.hidden; ++j) {
        z += hidden[j] * w2[j * s.classes + c];
      }
      logits[c] = z;
    }
    std::size_t best = 0, second = 1;
    if (logits[second] > logits[best]) std::swap(best, second);
    for (std::size_t c = 2; c < s.classes; ++c) {
      if (logits[c] > logits[best]) {
        second = best;
        best = c;
      } else if (logits[c] > logits[second]) {
        second = c;
      }
    }
    rows->labels[i] = static_cast<std::uint8_t>(best);
    ++per_class[best];
    // float32 rounding may pick the other of two logits this close.
    near_tie[i] = logits[best] - logits[second] < 1e-4;
  }
  const data_view view(predicted, {0, n});
  mlp_evaluator eval(s, 64);
  std::size_t ties = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (near_tie[i]) {
      ++ties;
      continue;
    }
    CAPTURE(i);
    CHECK(eval.count_correct(p, view, i, i + 1) == 1);
  }
  // In chunks, as it evaluates a job.
  const std::size_t agree = eval.count_correct(p, view, 0, n);
  CHECK(agree >= n - ties);
  const auto classes_seen = std::count_if(per_class.begin(), per_class.end(),
                                          [](std::size_t k) { return k > 0; });
  MESSAGE("near ties: " << ties << ", classes predicted: " << classes_seen);
  CHECK(ties <= 5);
  CHECK(classes_seen >= 5);  // not one class for every sample
}
