// A saved model as an ONNX graph (.onnx) from any bytes, as `emnist
// evaluate --model` and `predict.model` read it. What parses is a model
// whose arrays fit its shape, with a label per class, and it writes back to
// a file that reads as the same model.
#include <cstring>
#include <span>

#include "fuzz/fuzz_target.hpp"
#include "runtime/data/onnx_file.hpp"

EMNIST_FUZZ_TARGET(onnx) {
  using namespace emnist;
  auto m = parse_onnx(std::span(reinterpret_cast<const std::byte*>(data), size),
                      "fuzz.onnx");
  if (!m) {
    fuzz::check(m.error().message.rfind("fuzz.onnx", 0) == 0,
                "an error names the file");
    return false;
  }
  fuzz::check(m->parameters.size() == m->shape.size(),
              "the parameters fit the shape");
  fuzz::check(m->labels.size() == m->shape.classes, "one label per class");
  auto bytes = encode_onnx(*m, "fuzz.onnx");
  fuzz::check(bytes.has_value(), "what reads writes back");
  auto again = parse_onnx(std::as_bytes(std::span(*bytes)), "fuzz.onnx");
  fuzz::check(again.has_value(), "what is written reads");
  fuzz::check(again->shape.inputs == m->shape.inputs &&
                  again->shape.hidden == m->shape.hidden &&
                  again->shape.classes == m->shape.classes &&
                  again->labels == m->labels,
              "the shape and labels read back the same");
  fuzz::check(
      std::memcmp(again->parameters.data(), m->parameters.data(),
                  m->parameters.size() * sizeof(float)) == 0 &&
          std::memcmp(&again->input_scale, &m->input_scale, sizeof(float)) == 0,
      "the parameters read back bit for bit");
  return true;
}
