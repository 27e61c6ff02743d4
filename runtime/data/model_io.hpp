// Saved models by file name: the format follows the extension (.npz for
// numpy, .onnx for ONNX runtimes), for every command that writes or reads
// one (simulate --save-model, export, evaluate, predict).
//
//   if (auto f = model_format_of(path); !f) fail(f.error());  // before work
//   write_model(path, model);
//   auto m = read_model(path);
#pragma once

#include <filesystem>

#include "base/expected.hpp"
#include "runtime/data/model_file.hpp"

namespace emnist {

enum class model_format { npz, onnx };

/// The format `path`'s extension names; an error naming the path and the
/// extensions known otherwise.
[[nodiscard]] expected<model_format> model_format_of(
    const std::filesystem::path& path);

[[nodiscard]] expected<void> write_model(const std::filesystem::path& path,
                                         const saved_model& model);
/// The file's bytes in `format` (e.g. for an HTTP answer); `name` names it
/// in errors.
[[nodiscard]] expected<std::string> encode_model(model_format format,
                                                 const saved_model& model,
                                                 const std::string& name);
[[nodiscard]] expected<saved_model> read_model(
    const std::filesystem::path& path);

}  // namespace emnist
