// The evaluator keeps the rows of what it scored: the same data scored
// again, another slice, or a range that is not chunk-aligned must give
// exactly what a fresh evaluator gives.
#include <doctest/doctest.h>

#include <vector>

#include "model/mlp.hpp"
#include "model/rng.hpp"
#include "test_support.hpp"

using namespace emnist;

TEST_CASE("mlp_evaluator: rows kept between evaluations change no answer") {
  const auto& data = test::bymerge_data(20000);
  const mlp_shape s{784, 100, 47};
  std::vector<float> params(s.size());
  init_parameters(s, 7, params);
  // Some training-like spread, so that the predictions differ per sample.
  for (std::size_t i = 0; i < params.size(); ++i) {
    params[i] *= 40.0f * static_cast<float>(1 + i % 5);
  }
  auto fresh = [&](const data_view& d, std::size_t begin, std::size_t end) {
    mlp_evaluator e(s, 256);
    return e.count_correct(params, d, begin, end);
  };
  mlp_evaluator kept(s, 256);
  const auto& eval = data.eval;
  const auto whole = fresh(eval, 0, eval.size());
  CHECK(whole > 0);
  for (int pass = 0; pass < 3; ++pass) {
    CAPTURE(pass);
    CHECK(kept.count_correct(params, eval, 0, eval.size()) == whole);
  }
  // Chunk by chunk, as the evaluator actor asks.
  std::size_t by_chunks = 0;
  for (std::size_t at = 0; at < eval.size(); at += 256) {
    by_chunks +=
        kept.count_correct(params, eval, at, std::min(eval.size(), at + 256));
  }
  CHECK(by_chunks == whole);
  // The same, with the parameters loaded once (W1 packed once).
  kept.load(params);
  by_chunks = 0;
  for (std::size_t at = 0; at < eval.size(); at += 256) {
    by_chunks += kept.count_loaded(eval, at, std::min(eval.size(), at + 256));
  }
  CHECK(by_chunks == whole);
  // A range that starts between chunks.
  CHECK(kept.count_correct(params, eval, 100, 5000) == fresh(eval, 100, 5000));
  // Another data set: nothing of the first is used.
  const auto& train = data.train;
  CHECK(kept.count_correct(params, train, 0, 8000) == fresh(train, 0, 8000));
  CHECK(kept.count_correct(params, eval, 0, eval.size()) == whole);
  // Other parameters on kept rows.
  std::vector<float> other(params.rbegin(), params.rend());
  mlp_evaluator e(s, 256);
  const auto with_other = e.count_correct(other, eval, 0, eval.size());
  CHECK(with_other != whole);
  CHECK(kept.count_correct(other, eval, 0, eval.size()) == with_other);
  // Loaded parameters are those of the last load(), W1 and W2 alike.
  kept.load(params);
  CHECK(kept.count_loaded(eval, 0, eval.size()) == whole);
  kept.load(other);
  CHECK(kept.count_loaded(eval, 0, eval.size()) == with_other);
}
