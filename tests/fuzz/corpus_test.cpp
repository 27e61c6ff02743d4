// Every fuzz target over its seed corpus and its former crashers, on every
// build of the suite (the sanitizer builds included), so that what the
// fuzzer once found stays fixed. scripts/fuzz.sh runs the targets under
// libFuzzer to find new inputs.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.hpp"

namespace emnist::fuzz {

std::map<std::string, target_function>& targets() {
  static std::map<std::string, target_function> all;
  return all;
}

}  // namespace emnist::fuzz

namespace {

std::vector<std::uint8_t> read_all(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("fuzz targets: every seed and former crasher runs clean") {
  namespace fs = std::filesystem;
  const fs::path root = fs::path(EMNIST_SOURCE_DIR) / "tests" / "fuzz";
  const auto& targets = emnist::fuzz::targets();
  CHECK(targets.size() == 9);
  // The seeds make_seeds.py wrote from real files (named for what they
  // are; libFuzzer's finds are named by a hash) are inputs the parsers
  // must take, or a parser that refused everything would pass: all but
  // these model files with no model in them, which must be refused.
  const std::set<std::string> refused = {"npz/empty.npz", "onnx/empty.onnx"};
  for (const auto& [name, run] : targets) {
    CAPTURE(name);
    std::size_t inputs = 0, real = 0;
    for (const char* kind : {"corpus", "crashers"}) {
      const fs::path dir = root / kind / name;
      if (!fs::is_directory(dir)) continue;
      for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        CAPTURE(entry.path().string());
        const auto bytes = read_all(entry.path());
        const bool accepted = run(bytes.data(), bytes.size());
        ++inputs;
        if (std::string(kind) == "corpus" && entry.path().has_extension()) {
          ++real;
          const std::string seed =
              name + "/" + entry.path().filename().string();
          CHECK(accepted == (refused.count(seed) == 0));
        }
      }
    }
    CHECK(inputs >= 3);
    CHECK(real >= 3);  // seeded from real files (docs/reliability.md)
  }
}
