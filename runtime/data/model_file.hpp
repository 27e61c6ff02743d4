// A trained model as a file others read: numpy's .npz (a zip of .npy
// arrays, as np.savez writes it), holding
//   w1           float32, inputs x hidden
//   w2           float32, hidden x classes
//   input_scale  float32 scalar: the factor applied to 0-255 pixels
//   labels       unicode, one per class (the mapping's characters)
//   pixel_order  unicode scalar: how an image's 784 inputs are ordered
// The network: softmax(tanh((pixels * input_scale) w1) w2); dropout is
// training-only.
//
//   write_npz("model.npz", {shape, parameters, labels});
//   auto m = read_npz("model.npz");   // errors name the file, member, field
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "model/dataset.hpp"
#include "model/mlp.hpp"

namespace emnist {

/// EMNIST's own pixel order, which the saved weights expect.
inline constexpr const char* emnist_pixel_order =
    "EMNIST storage order: each 28x28 image transposed (the row index runs "
    "fastest along a drawn row), as in the IDX files";

struct saved_model {
  mlp_shape shape;
  std::vector<float> parameters;    ///< W1 then W2, as training keeps them
  std::vector<std::string> labels;  ///< one per class
  float input_scale = 1.0f / 255.0f;
};

/// The labels of a split's classes: the mapping's characters ("A"), or
/// the class numbers when there is no mapping.
[[nodiscard]] std::vector<std::string> class_labels(
    const class_mapping& mapping, std::size_t classes);

/// Writes the model (a temporary file renamed into place: never half a
/// file at `path`).
[[nodiscard]] expected<void> write_npz(const std::filesystem::path& path,
                                       const saved_model& model);
/// Whether the parameters and labels fit the model's shape; the error
/// names `name`.
[[nodiscard]] expected<void> check_model_fits(const saved_model& model,
                                              const std::string& name);

/// The bytes of the .npz file; `name` names it in errors.
[[nodiscard]] expected<std::string> encode_npz(const saved_model& model,
                                               const std::string& name);

[[nodiscard]] expected<saved_model> read_npz(const std::filesystem::path& path);
/// The bytes of an .npz file; `name` names it in errors.
[[nodiscard]] expected<saved_model> parse_npz(std::span<const std::byte> file,
                                              const std::string& name);

}  // namespace emnist
