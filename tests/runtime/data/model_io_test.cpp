// Saved models in both formats: what is written reads back bit for bit,
// the extension picks the format, and a damaged or foreign file is refused
// with its name and what is wrong.
#include "runtime/data/model_io.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <random>

#include "runtime/data/onnx_file.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

saved_model some_model() {
  saved_model m;
  m.shape = {784, 12, 47};
  m.parameters.resize(m.shape.size());
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.3f);
  for (auto& p : m.parameters) p = normal(rng);
  for (std::size_t c = 0; c < m.shape.classes; ++c) {
    m.labels.push_back(c == 3 ? "\"q\\u\"" : std::string(1, char('0' + c)));
  }
  m.input_scale = 1.0f / 255.0f;
  return m;
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("model files: .npz and .onnx read back what was written") {
  test::scratch_dir dir;
  const auto m = some_model();
  for (const char* name : {"m.npz", "m.onnx"}) {
    CAPTURE(name);
    const auto path = dir.path() / name;
    REQUIRE(write_model(path, m).has_value());
    CHECK_FALSE(std::filesystem::exists(path.string() + ".partial"));
    auto back = read_model(path);
    REQUIRE_MESSAGE(back.has_value(), test::error_text(back));
    CHECK(back->shape.inputs == 784);
    CHECK(back->shape.hidden == 12);
    CHECK(back->shape.classes == 47);
    CHECK(back->parameters == m.parameters);
    CHECK(back->labels == m.labels);
    CHECK(back->input_scale == m.input_scale);
  }
}

TEST_CASE("model files: bad names and bad files are named") {
  test::scratch_dir dir;
  const auto m = some_model();
  auto unknown = write_model(dir.path() / "m.pt", m);
  REQUIRE_FALSE(unknown.has_value());
  CHECK(contains(unknown.error().message, "m.pt: the model format follows"));
  CHECK_FALSE(read_model(dir.path() / "m.txt").has_value());

  // An .npz under an .onnx name, a truncated graph, a missing file.
  REQUIRE(write_model(dir.path() / "m.npz", m).has_value());
  std::filesystem::copy_file(dir.path() / "m.npz", dir.path() / "npz.onnx");
  auto foreign = read_model(dir.path() / "npz.onnx");
  REQUIRE_FALSE(foreign.has_value());
  CHECK(foreign.error().code == errc::invalid_argument);
  CHECK(contains(foreign.error().message, "npz.onnx: "));

  REQUIRE(write_model(dir.path() / "m.onnx", m).has_value());
  std::string bytes;
  {
    std::ifstream in(dir.path() / "m.onnx", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const auto cut = std::as_bytes(std::span(bytes.data(), bytes.size() / 2));
  auto truncated = parse_onnx(cut, "cut.onnx");
  REQUIRE_FALSE(truncated.has_value());
  CHECK(contains(truncated.error().message, "cut.onnx: "));

  auto missing = read_model(dir.path() / "none.onnx");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == errc::not_found);
  CHECK(contains(missing.error().message, "none.onnx"));

  // Parameters that do not fit the shape are refused before any file.
  auto wrong = m;
  wrong.parameters.pop_back();
  CHECK_FALSE(write_model(dir.path() / "wrong.onnx", wrong).has_value());
  CHECK_FALSE(std::filesystem::exists(dir.path() / "wrong.onnx"));
}
