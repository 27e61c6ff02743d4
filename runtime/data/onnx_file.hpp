// A trained model as an ONNX graph, written with Debian's ONNX library
// (libonnx, protobuf) and checked by its checker before it is written:
//
//   pixels [N, 784] float, 0-255, EMNIST's pixel order
//     -> Mul(input_scale) -> MatMul(w1) -> Tanh -> MatMul(w2) -> Softmax
//     -> probabilities [N, classes]
//
// Dropout is training-only and has no node. The model's metadata holds the
// class labels (a JSON array, `labels`), the pixel order and the input
// scale, so that a consumer needs nothing else. opset 13, float32.
//
//   write_onnx("model.onnx", model);
//   auto m = read_onnx("model.onnx");  // the graph this program writes
#pragma once

#include <filesystem>
#include <span>
#include <string>

#include "base/expected.hpp"
#include "runtime/data/model_file.hpp"

namespace emnist {

/// Writes the model (a temporary file renamed into place).
[[nodiscard]] expected<void> write_onnx(const std::filesystem::path& path,
                                        const saved_model& model);
/// The bytes of the .onnx file; `name` names it in errors.
[[nodiscard]] expected<std::string> encode_onnx(const saved_model& model,
                                                const std::string& name);

/// Reads a model written by write_onnx; another graph is refused, naming
/// what differs.
[[nodiscard]] expected<saved_model> read_onnx(
    const std::filesystem::path& path);
/// The bytes of an .onnx file; `name` names it in errors.
[[nodiscard]] expected<saved_model> parse_onnx(std::span<const std::byte> file,
                                               const std::string& name);

}  // namespace emnist
