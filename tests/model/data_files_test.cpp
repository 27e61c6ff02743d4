// Loading a job's data: a load of some replicas' shards gives exactly the
// rows a whole load gives them, from a cache file or not, and a damaged
// cache file costs time, never data.
#include "model/data_files.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>

#include "test_support.hpp"

using namespace emnist;

namespace {

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

/// A digits split whose test file has `count` samples, each image's bytes
/// and each label depending on its row.
void write_digits(const std::filesystem::path& dir, std::uint32_t count,
                  bool gzip) {
  std::string images =
      be32(idx_images_magic) + be32(count) + be32(28) + be32(28);
  std::string labels = be32(idx_labels_magic) + be32(count);
  for (std::uint32_t r = 0; r < count; ++r) {
    for (std::uint32_t k = 0; k < 784; ++k) {
      images.push_back(static_cast<char>((r * 31 + k * 7) % 253));
    }
    labels.push_back(static_cast<char>(r % 10));
  }
  const std::string gz = gzip ? ".gz" : "";
  test::write_file(dir / ("emnist-digits-test-images-idx3-ubyte" + gz), images,
                   gzip);
  test::write_file(dir / ("emnist-digits-test-labels-idx1-ubyte" + gz), labels,
                   gzip);
}

std::vector<std::uint8_t> rows_of(const data_view& v) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    out.insert(out.end(), v.image(i), v.image(i) + v.features());
    out.push_back(v.label(i));
  }
  return out;
}

data_request digits(const std::filesystem::path& dir,
                    const std::filesystem::path& cache) {
  data_request r{dir, "digits", *parse_slice("test[10:2010]"),
                 *parse_slice("test[2010:]")};
  r.cache_dirs =
      cache.empty()
          ? std::vector<idx_cache_dir>{}
          : std::vector<idx_cache_dir>{{cache, idx_cache_dir::kind::chosen}};
  return r;
}

}  // namespace

TEST_CASE(
    "data_files: a load of some shards equals those rows of a whole load") {
  for (const bool gzip : {true, false}) {
    CAPTURE(gzip);
    test::scratch_dir tmp;
    write_digits(tmp.path(), 2500, gzip);
    // No cache: the rows held are copied out of the inflated file. A cache:
    // they are mapped from it (the second load of each).
    for (const auto& cache : {std::filesystem::path(), tmp.path() / "cache",
                              tmp.path() / "cache"}) {
      CAPTURE(cache);
      auto whole = load_job_data(digits(tmp.path(), cache));
      REQUIRE_MESSAGE(whole.has_value(), whole.error().message);
      for (const auto& ids :
           {std::vector<std::uint32_t>{1}, std::vector<std::uint32_t>{0, 2},
            std::vector<std::uint32_t>{2}}) {
        CAPTURE(ids.size());
        auto r = digits(tmp.path(), cache);
        r.only_shards = train_shards{ids, 3};
        auto part = load_job_data(r);
        REQUIRE_MESSAGE(part.has_value(), part.error().message);
        CHECK(part->train.size() == whole->train.size());
        CHECK(part->classes == whole->classes);
        for (std::uint32_t i = 0; i < 3; ++i) {
          const bool mine = std::find(ids.begin(), ids.end(), i) != ids.end();
          if (!mine && ids.size() == 1) {
            CHECK_FALSE(part->train.holds_shard(i, 3));
            continue;
          }
          REQUIRE(part->train.holds_shard(i, 3));
          CHECK(rows_of(part->train.shard(i, 3)) ==
                rows_of(whole->train.shard(i, 3)));
        }
        CHECK(rows_of(part->eval) == rows_of(whole->eval));
        // Only the rows of the shards (their hull) are held.
        CHECK(part->train.file().held.begin ==
              whole->train.shard_range(ids.front(), 3).begin);
        CHECK(part->train.file().held.end ==
              whole->train.shard_range(ids.back(), 3).end);
      }
    }
  }
}

TEST_CASE("data_files: the real ByMerge file, one shard against the whole") {
  const auto& whole = test::bymerge_data();
  data_request r{test::data_dir(), "bymerge", *parse_slice("test[:100000]"),
                 *parse_slice("test[100000:]")};
  r.only_shards = train_shards{{3}, 4};
  auto part = load_job_data(r);
  REQUIRE_MESSAGE(part.has_value(), part.error().message);
  CHECK(rows_of(part->train.shard(3, 4)) == rows_of(whole.train.shard(3, 4)));
  CHECK(rows_of(part->eval) == rows_of(whole.eval));
  CHECK_FALSE(part->train.holds_shard(2, 4));
}

TEST_CASE("data_files: a damaged cache file costs time, never data") {
  test::scratch_dir tmp;
  write_digits(tmp.path(), 2500, true);
  const auto cache = tmp.path() / "cache";
  auto first = load_job_data(digits(tmp.path(), cache));
  REQUIRE(first.has_value());
  // Copies: the first load maps the very file changed below.
  const auto train_rows = rows_of(first->train);
  const auto eval_rows = rows_of(first->eval);
  std::filesystem::path images_cache;
  for (const auto& e : std::filesystem::directory_iterator(cache)) {
    const auto name = e.path().filename().string();
    if (name.find("images") != std::string::npos && name.ends_with(".idx")) {
      images_cache = e.path();
    }
  }
  REQUIRE_FALSE(images_cache.empty());
  {
    // A byte of the last image changed in place: the header still passes.
    std::fstream f(images_cache,
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-5, std::ios::end);
    f.put('\x42');
  }
  auto second = load_job_data(digits(tmp.path(), cache));
  REQUIRE_MESSAGE(second.has_value(), second.error().message);
  CHECK(rows_of(second->train) == train_rows);
  CHECK(rows_of(second->eval) == eval_rows);
  CHECK(describe_sources(*second) == "inflated, cached in " + cache.string());
  // Written anew: the next load maps it again.
  auto third = load_job_data(digits(tmp.path(), cache));
  REQUIRE(third.has_value());
  CHECK(describe_sources(*third) == "from the cache in " + cache.string());
  CHECK(rows_of(third->eval) == eval_rows);
}

TEST_CASE("data_files: labels are checked in the rows loaded") {
  test::scratch_dir tmp;
  write_digits(tmp.path(), 2500, false);
  test::write_file(tmp.path() / "emnist-digits-mapping.txt",
                   "0 48\n1 49\n2 50\n3 51\n4 52\n5 53\n6 54\n7 55\n8 56\n");
  // Labels run 0-9 by row; the mapping stops at 8: row 19 holds the first
  // 9 the load sees when it starts at row 10.
  auto whole = load_job_data(digits(tmp.path(), {}));
  REQUIRE_FALSE(whole.has_value());
  CHECK(whole.error().message ==
        "emnist-digits-test labels: byte offset 17: label 9 is not a class of "
        "the mapping (9 classes)");
  // Replica 1 of 3 starts at row 10 + 666 = 676: its first 9 is row 679.
  auto r = digits(tmp.path(), {});
  r.only_shards = train_shards{{1}, 3};
  auto part = load_job_data(r);
  REQUIRE_FALSE(part.has_value());
  CHECK(part.error().message ==
        "emnist-digits-test labels: byte offset 687: label 9 is not a class "
        "of the mapping (9 classes)");
}
