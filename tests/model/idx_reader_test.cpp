// IDX reader and data loading: the real ByMerge files, and every kind of
// broken input (each error names the file, the offset and the expectation).
#include "model/idx_reader.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <numeric>

#include "model/data_files.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

std::string images_bytes(std::uint32_t count, std::uint32_t rows = 28,
                         std::uint32_t cols = 28) {
  return be32(idx_images_magic) + be32(count) + be32(rows) + be32(cols) +
         std::string(std::size_t{count} * rows * cols, '\x07');
}

std::string labels_bytes(std::uint32_t count, char label = 3) {
  return be32(idx_labels_magic) + be32(count) + std::string(count, label);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("idx_reader: the real ByMerge test files") {
  const auto dir = test::data_dir();
  auto labels =
      read_idx_labels(dir / "emnist-bymerge-test-labels-idx1-ubyte.gz");
  REQUIRE_MESSAGE(labels.has_value(), test::error_text(labels));
  CHECK(labels->size() == 116323);
  CHECK(std::vector<int>(labels->begin(), labels->begin() + 5) ==
        std::vector<int>{24, 22, 28, 0, 5});
  CHECK((*labels)[100000] == 3);

  const auto& data = test::bymerge_data();
  CHECK(data.classes == 47);
  CHECK(data.features == 784);
  CHECK(data.train.size() == 100000);
  CHECK(data.eval.size() == 16323);
  CHECK(data.eval.label(0) == 3);
  CHECK(data.mapping.codes[10] == 'A');
  // The first image's pixel sum, computed independently with Python's gzip.
  const std::uint8_t* first = data.train.image(0);
  CHECK(std::accumulate(first, first + 784, 0) == 37914);
  // Class 26 ('Q') is the rarest class: 415 samples in the file.
  std::size_t q = 0;
  for (std::size_t i = 0; i < data.train.file().count; ++i) {
    q += data.train.file().labels[i] == 26 ? 1 : 0;
  }
  CHECK(q == 415);
}

TEST_CASE("idx_reader: raw and gzip files read the same") {
  test::scratch_dir tmp;
  const auto raw = tmp.path() / "a-images-idx3-ubyte";
  const auto gz = tmp.path() / "b-images-idx3-ubyte.gz";
  test::write_file(raw, images_bytes(3));
  test::write_file(gz, images_bytes(3), true);
  auto a = read_idx_images(raw);
  auto b = read_idx_images(gz);
  REQUIRE(a.has_value());
  REQUIRE(b.has_value());
  CHECK(a->count == 3);
  CHECK(a->pixels == b->pixels);
}

TEST_CASE("idx_reader: broken inputs name the file, offset and expectation") {
  test::scratch_dir tmp;
  auto images_error = [&](const std::string& bytes, bool gzip = false) {
    const auto file = tmp.path() / "broken-images-idx3-ubyte";
    test::write_file(file, bytes, gzip);
    auto r = read_idx_images(file);
    REQUIRE_FALSE(r.has_value());
    CHECK(contains(r.error().message, file.string()));
    return r.error().message;
  };

  SUBCASE("wrong magic") {
    auto msg = images_error(labels_bytes(40));
    CHECK(contains(msg, "byte offset 0"));
    CHECK(contains(msg, "0x00000803"));
    CHECK(contains(msg, "0x00000801"));
  }
  SUBCASE("truncated header") {
    auto msg = images_error(be32(idx_images_magic) + be32(2));
    CHECK(contains(msg, "truncated IDX header"));
  }
  SUBCASE("truncated payload") {
    auto bytes = images_bytes(2);
    bytes.resize(bytes.size() - 100);
    auto msg = images_error(bytes);
    CHECK(contains(msg, "byte offset 16"));
    CHECK(contains(msg, "expected 1568 pixel bytes"));
    CHECK(contains(msg, "truncated"));
  }
  SUBCASE("trailing bytes") {
    auto msg = images_error(images_bytes(2) + "xx");
    CHECK(contains(msg, "trailing bytes"));
  }
  SUBCASE("truncated gzip stream") {
    const auto gz = tmp.path() / "full.gz";
    test::write_file(gz, images_bytes(50), true);
    auto whole = read_maybe_gzip(gz);
    REQUIRE(whole.has_value());
    std::ifstream in(gz, std::ios::binary);
    std::string compressed((std::istreambuf_iterator<char>(in)), {});
    auto msg = images_error(compressed.substr(0, compressed.size() / 2));
    CHECK(contains(msg, "gzip stream truncated at compressed byte offset"));
  }
  SUBCASE("corrupt gzip data") {
    const auto gz = tmp.path() / "full.gz";
    test::write_file(gz, images_bytes(50), true);
    std::ifstream in(gz, std::ios::binary);
    std::string compressed((std::istreambuf_iterator<char>(in)), {});
    for (std::size_t i = 12; i < 40; ++i) compressed[i] = '\xff';
    auto msg = images_error(compressed);
    CHECK(contains(msg, "compressed byte offset"));
  }
  SUBCASE("missing file") {
    auto r = read_idx_images(tmp.path() / "nope.gz");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == errc::not_found);
    CHECK(contains(r.error().message, "nope.gz"));
  }
}

TEST_CASE("idx_reader: labels checks and image/label count mismatch") {
  test::scratch_dir tmp;
  const auto dir = tmp.path();
  test::write_file(dir / "emnist-mnist-test-images-idx3-ubyte",
                   images_bytes(5));
  test::write_file(dir / "emnist-mnist-test-labels-idx1-ubyte",
                   labels_bytes(4));
  data_request r{dir, "mnist", *parse_slice("test"), *parse_slice("test")};
  auto d = load_job_data(r);
  REQUIRE_FALSE(d.has_value());
  CHECK(contains(d.error().message, "5 images"));
  CHECK(contains(d.error().message, "4 labels"));

  auto truncated = labels_bytes(4);
  truncated.pop_back();
  auto l = parse_idx_labels(
      std::span(reinterpret_cast<const std::uint8_t*>(truncated.data()),
                truncated.size()),
      "x-labels");
  REQUIRE_FALSE(l.has_value());
  CHECK(contains(l.error().message, "x-labels: byte offset 8"));
}

TEST_CASE("data_files: classes come from the mapping, labels are checked") {
  test::scratch_dir tmp;
  const auto dir = tmp.path();
  test::write_file(dir / "emnist-digits-test-images-idx3-ubyte",
                   images_bytes(4));
  test::write_file(dir / "emnist-digits-test-labels-idx1-ubyte",
                   labels_bytes(4, 9));
  data_request r{dir, "digits", *parse_slice("test[:2]"),
                 *parse_slice("test[2:]")};
  SUBCASE("without a mapping: from the labels") {
    auto d = load_job_data(r);
    REQUIRE(d.has_value());
    CHECK(d->classes == 10);
    CHECK(d->train.size() == 2);
    CHECK(d->eval.size() == 2);
  }
  SUBCASE("a label outside the mapping") {
    test::write_file(dir / "emnist-digits-mapping.txt", "0 48\n1 49\n");
    auto d = load_job_data(r);
    REQUIRE_FALSE(d.has_value());
    CHECK(contains(d.error().message, "byte offset 8"));
    CHECK(contains(d.error().message, "label 9"));
  }
  SUBCASE("a label twice in the mapping") {
    test::write_file(dir / "emnist-digits-mapping.txt",
                     "0 48\n1 49\n2 50\n1 51\n");
    auto d = load_job_data(r);
    REQUIRE_FALSE(d.has_value());
    CHECK(contains(d.error().message,
                   "mapping.txt:4: label 1 again (first on line 2)"));
  }
  SUBCASE("a gap in the mapping's labels") {
    test::write_file(dir / "emnist-digits-mapping.txt",
                     "0 48\n1 49\n2 50\n99 51\n");
    auto d = load_job_data(r);
    REQUIRE_FALSE(d.has_value());
    CHECK(contains(d.error().message, "label 3 is missing"));
  }
  SUBCASE("a code that is not a character") {
    test::write_file(dir / "emnist-digits-mapping.txt", "0 48\n1 4900\n");
    auto d = load_job_data(r);
    REQUIRE_FALSE(d.has_value());
    CHECK(contains(d.error().message, "mapping.txt:2"));
  }
  SUBCASE("a broken mapping line") {
    test::write_file(dir / "emnist-digits-mapping.txt", "0 48\nnine\n");
    auto d = load_job_data(r);
    REQUIRE_FALSE(d.has_value());
    CHECK(contains(d.error().message, "mapping.txt:2"));
  }
  SUBCASE("an empty selection") {
    r.train = *parse_slice("test[3:3]");
    auto d = load_job_data(r);
    REQUIRE_FALSE(d.has_value());
    CHECK(contains(d.error().message, "selects no sample"));
  }
}
