// A saved model (.npz: a zip of .npy arrays) from any bytes, as
// `emnist evaluate --model` reads it. What parses is a model whose arrays
// fit its shape.
#include <span>

#include "fuzz/fuzz_target.hpp"
#include "runtime/data/model_file.hpp"

EMNIST_FUZZ_TARGET(npz) {
  using namespace emnist;
  auto m = parse_npz(std::span(reinterpret_cast<const std::byte*>(data), size),
                     "fuzz.npz");
  if (!m) {
    fuzz::check(m.error().message.rfind("fuzz.npz", 0) == 0,
                "an error names the file");
    return false;
  }
  fuzz::check(m->parameters.size() == m->shape.size(),
              "the parameters fit the shape");
  fuzz::check(m->labels.size() == m->shape.classes, "one label per class");
  return true;
}
