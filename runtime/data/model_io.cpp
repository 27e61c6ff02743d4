// The extension picks the writer and the reader.
#include "runtime/data/model_io.hpp"

#include "runtime/data/onnx_file.hpp"

namespace emnist {

expected<model_format> model_format_of(const std::filesystem::path& path) {
  const auto ext = path.extension();
  if (ext == ".npz") return model_format::npz;
  if (ext == ".onnx") return model_format::onnx;
  return make_error(errc::invalid_argument,
                    path.string() +
                        ": the model format follows the extension: .npz "
                        "(numpy) or .onnx (ONNX)");
}

expected<void> write_model(const std::filesystem::path& path,
                           const saved_model& model) {
  auto format = model_format_of(path);
  if (!format) return format.error();
  return *format == model_format::npz ? write_npz(path, model)
                                      : write_onnx(path, model);
}

expected<std::string> encode_model(model_format format,
                                   const saved_model& model,
                                   const std::string& name) {
  return format == model_format::npz ? encode_npz(model, name)
                                     : encode_onnx(model, name);
}

expected<saved_model> read_model(const std::filesystem::path& path) {
  auto format = model_format_of(path);
  if (!format) return format.error();
  return *format == model_format::npz ? read_npz(path) : read_onnx(path);
}

}  // namespace emnist
