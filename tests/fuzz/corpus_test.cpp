// Every fuzz target over its seed corpus and its former crashers, on every
// build of the suite (the sanitizer builds included), so that what the
// fuzzer once found stays fixed. scripts/fuzz.sh runs the targets under
// libFuzzer to find new inputs.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
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
  for (const auto& [name, run] : targets) {
    CAPTURE(name);
    std::size_t inputs = 0;
    for (const char* kind : {"corpus", "crashers"}) {
      const fs::path dir = root / kind / name;
      if (!fs::is_directory(dir)) continue;
      for (const auto& entry : fs::directory_iterator(dir)) {
        if (!entry.is_regular_file()) continue;
        CAPTURE(entry.path().string());
        const auto bytes = read_all(entry.path());
        run(bytes.data(), bytes.size());
        ++inputs;
      }
    }
    CHECK(inputs >= 3);  // seeded from real files (docs/reliability.md)
  }
}
