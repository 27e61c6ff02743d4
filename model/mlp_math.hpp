// The network's math, templated on the scalar so that the gradient check can
// run it in double while training runs it in float.
//
//   784 inputs --W1--> hidden, tanh, inverted dropout --W2--> classes, softmax
//
// No biases (as the prototype). Loss: mean cross-entropy over the minibatch.
// Parameters are one flat array: W1 (inputs x hidden, row-major), then W2
// (hidden x classes, row-major), so that a store can treat them as blocks.
#pragma once

#include <Eigen/Core>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "model/mlp.hpp"

namespace emnist::math {

template <class S>
using matrix =
    Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class S>
using const_matrix_map = Eigen::Map<const matrix<S>>;

/// Buffers of one minibatch size, allocated once. `activation` and
/// `dhidden` have padded_hidden() columns, of which the first `hidden` are
/// used.
template <class S>
struct workspace {
  matrix<S> activation;  ///< X W1, then tanh of it
  matrix<S> dropped;     ///< activation .* mask, batch x hidden
  matrix<S> logits;      ///< batch x classes; then dL/dlogits
  matrix<S> dhidden;     ///< dL/d(X W1)
  workspace(const mlp_shape& s, std::size_t batch)
      : activation(matrix<S>::Zero(batch, padded_hidden(s.hidden))),
        dropped(batch, s.hidden),
        logits(batch, s.classes),
        dhidden(matrix<S>::Zero(batch, padded_hidden(s.hidden))) {}
};

/// The part of a step after the first layer's product: given
/// w.activation = X W1 (before tanh), applies tanh and the dropout `mask`
/// (batch x hidden, 0 or 1/(1-p); null for none), the softmax and the
/// cross-entropy, updates W2 by -learning_rate * gradient, and leaves
/// dL/d(X W1) in w.dhidden. Returns the mean loss. Only the first `hidden`
/// columns of w.activation and w.dhidden are used.
template <class S>
S hidden_and_output_step(const mlp_shape& s, S* w2_data,
                         const std::uint8_t* labels, const S* mask,
                         std::size_t batch, workspace<S>& w, S learning_rate) {
  const auto h = static_cast<Eigen::Index>(s.hidden);
  const auto c = static_cast<Eigen::Index>(s.classes);
  const auto b = static_cast<Eigen::Index>(batch);
  Eigen::Map<matrix<S>> w2(w2_data, h, c);
  auto activation = w.activation.leftCols(h);
  auto dhidden = w.dhidden.leftCols(h);

  activation = activation.array().tanh();
  if (mask != nullptr) {
    w.dropped = activation.cwiseProduct(const_matrix_map<S>(mask, b, h));
  } else {
    w.dropped = activation;
  }
  w.logits.noalias() = w.dropped * w2;

  // Softmax and cross-entropy, then dL/dlogits = (p - onehot) / batch.
  S loss = 0;
  const S inv_batch = S(1) / static_cast<S>(batch);
  for (Eigen::Index r = 0; r < b; ++r) {
    auto row = w.logits.row(r);
    const S peak = row.maxCoeff();
    row = (row.array() - peak).exp();
    const S sum = row.sum();
    const auto y = static_cast<Eigen::Index>(labels[r]);
    loss -= std::log(row(y) / sum);
    row *= inv_batch / sum;
    row(y) -= inv_batch;
  }

  // Backward through W2 before W2 changes.
  dhidden.noalias() = w.logits * w2.transpose();
  w2.noalias() -= learning_rate * (w.dropped.transpose() * w.logits);
  if (mask != nullptr) {
    dhidden.array() *= const_matrix_map<S>(mask, b, h).array();
  }
  dhidden.array() *= S(1) - activation.array().square();
  return loss * inv_batch;
}

/// One SGD step in place on `params` with dense inputs `x` (batch x
/// inputs, row-major): forward, backward, update by -learning_rate *
/// gradient. The reference that the sparse float path is tested against.
template <class S>
S train_step(const mlp_shape& s, S* params, const S* x,
             const std::uint8_t* labels, const S* mask, std::size_t batch,
             workspace<S>& w, S learning_rate) {
  const auto in = static_cast<Eigen::Index>(s.inputs);
  const auto h = static_cast<Eigen::Index>(s.hidden);
  const auto b = static_cast<Eigen::Index>(batch);
  Eigen::Map<matrix<S>> w1(params, in, h);
  const_matrix_map<S> xs(x, b, in);
  w.activation.leftCols(h).noalias() = xs * w1;
  const S loss = hidden_and_output_step<S>(s, params + in * h, labels, mask,
                                           batch, w, learning_rate);
  w1.noalias() -= learning_rate * (xs.transpose() * w.dhidden.leftCols(h));
  return loss;
}

}  // namespace emnist::math
