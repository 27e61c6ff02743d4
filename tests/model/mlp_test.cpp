// The network: finite-difference gradient check (in double, through the
// very update code training uses), learning, determinism.
#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "model/mlp.hpp"
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
    const double scale = std::max({std::abs(analytic), std::abs(numeric), 1e-4});
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
  for (std::size_t i = 0; i < s.w1_size(); ++i) w1_max = std::max(w1_max, std::abs(p[i]));
  for (std::size_t i = s.w1_size(); i < s.size(); ++i) w2_max = std::max(w2_max, std::abs(p[i]));
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
    std::vector<float> x(batch * 784);
    std::vector<std::uint8_t> y(batch);
    for (std::size_t step = 0; step < 600; ++step) {
      for (std::size_t r = 0; r < batch; ++r) {
        const std::size_t i = (step * batch + r) % data.train.size();
        to_float(data.train.image(i), 784, x.data() + r * 784);
        y[r] = data.train.label(i);
      }
      trainer.step(p, x.data(), y.data(), 0.1f);
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
