// The cache of inflated IDX files: used when it stands for the source and
// passes its checksums, and never otherwise (corrupt, truncated, stale,
// foreign); written whole or not at all; never needed (a read-only data
// folder, no cache at all) and never the cause of an error.
#include "model/idx_cache.hpp"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "model/idx_cache_format.hpp"
#include "model/idx_reader.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

std::string be32(std::uint32_t v) {
  return {char(v >> 24), char(v >> 16), char(v >> 8), char(v)};
}

/// IDX images whose every byte depends on its place, so that a byte out
/// of place shows.
std::string images_bytes(std::uint32_t count, std::uint32_t seed = 0) {
  std::string out = be32(idx_images_magic) + be32(count) + be32(28) + be32(28);
  for (std::size_t i = 0; i < std::size_t{count} * 784; ++i) {
    out.push_back(static_cast<char>((i * 131 + i / 784 * 7 + seed) % 251));
  }
  return out;
}

std::string as_string(std::span<const std::uint8_t> b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void overwrite(const std::filesystem::path& p, std::size_t at, char byte) {
  std::fstream f(p, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(at));
  f.put(byte);
}

/// The files in `dir`, but the lock files.
std::vector<std::string> files_in(const std::filesystem::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (!name.ends_with(".lock")) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

struct fixture {
  test::scratch_dir tmp;
  std::filesystem::path source =
      tmp.path() / "emnist-x-test-images-idx3-ubyte.gz";
  std::filesystem::path cache = tmp.path() / "cache";
  std::string raw = images_bytes(700);  // 549 kB: a few chunks at 128 kB
  idx_source_options options{{{cache, idx_cache_dir::kind::chosen}}};

  fixture() {
    options.chunk_bytes = 128 << 10;
    test::write_file(source, raw, true);
  }
  std::filesystem::path cache_file() const {
    const auto gz = read_all(source);
    const auto stamp = gzip_stamp_of(
        std::span(reinterpret_cast<const std::uint8_t*>(gz.data()), gz.size()));
    return cache / idx_cache_name(source, stamp.crc32);
  }
  idx_bytes open() const {
    auto b = open_idx_bytes(source, options);
    REQUIRE_MESSAGE(b.has_value(), b.error().message);
    return std::move(*b);
  }
};

}  // namespace

TEST_CASE("idx_cache: a gzip file is inflated once, then mapped") {
  fixture f;
  auto first = f.open();
  CHECK(first.origin() == idx_origin::inflated_cached);
  CHECK(as_string(first.bytes()) == f.raw);
  CHECK(files_in(f.cache) ==
        std::vector<std::string>{f.cache_file().filename().string()});

  auto second = f.open();
  CHECK(second.origin() == idx_origin::cache);
  CHECK(second.note() == "cache " + f.cache_file().string());
  REQUIRE(second.verify(0, second.bytes().size()));
  CHECK(as_string(second.bytes()) == f.raw);
  // Another process (or thread) may hold the first mapping while the file
  // is replaced: its bytes stay whole.
  auto again = f.options;
  again.ignore_cache = true;
  auto third = open_idx_bytes(f.source, again);
  REQUIRE(third.has_value());
  CHECK(third->origin() == idx_origin::inflated_cached);
  CHECK(as_string(second.bytes()) == f.raw);
}

TEST_CASE("idx_cache: a raw file is mapped as it is, with no cache") {
  fixture f;
  const auto raw_file = f.tmp.path() / "emnist-x-test-images-idx3-ubyte";
  test::write_file(raw_file, f.raw);
  auto b = open_idx_bytes(raw_file, f.options);
  REQUIRE(b.has_value());
  CHECK(b->origin() == idx_origin::raw_file);
  CHECK(as_string(b->bytes()) == f.raw);
  CHECK_FALSE(std::filesystem::exists(f.cache));
}

TEST_CASE("idx_cache: a damaged cache file is never used") {
  fixture f;
  (void)f.open();  // writes the cache file
  const auto file = f.cache_file();
  const auto size = std::filesystem::file_size(file);
  const std::size_t payload = size - f.raw.size();

  SUBCASE("a payload byte changed: the header passes, verify does not") {
    overwrite(file, payload + 300'000, 'x');
    auto b = f.open();
    CHECK(b.origin() == idx_origin::cache);
    CHECK(b.verify(0, 16));  // the first chunk is whole
    const auto bad = b.verify(0, b.bytes().size());
    REQUIRE_FALSE(bad.has_value());
    CHECK(bad.error().message.find(file.string() + ": chunk ") == 0);
    CHECK(bad.error().message.find("checksum mismatch") != std::string::npos);
    // What the loader then does: the source, and the cache written anew.
    auto again = f.options;
    again.ignore_cache = true;
    auto fresh = open_idx_bytes(f.source, again);
    REQUIRE(fresh.has_value());
    CHECK(as_string(fresh->bytes()) == f.raw);
    auto next = f.open();
    CHECK(next.origin() == idx_origin::cache);
    CHECK(next.verify(0, next.bytes().size()));
  }
  SUBCASE("truncated") {
    std::filesystem::resize_file(file, size - 1);
    auto b = f.open();
    CHECK(b.origin() == idx_origin::inflated_cached);
    CHECK(as_string(b.bytes()) == f.raw);
    CHECK(std::filesystem::file_size(file) == size);
  }
  SUBCASE("longer than its header says") {
    std::filesystem::resize_file(file, size + 1);
    CHECK(f.open().origin() == idx_origin::inflated_cached);
  }
  SUBCASE("a chunk checksum changed: the header's own checksum fails") {
    overwrite(file, 64, '\x55');
    CHECK(f.open().origin() == idx_origin::inflated_cached);
  }
  SUBCASE("not a cache file at all") {
    test::write_file(file, f.raw);
    auto b = f.open();
    CHECK(b.origin() == idx_origin::inflated_cached);
    CHECK(as_string(b.bytes()) == f.raw);
  }
  SUBCASE("stale: made from another source under this one's name") {
    // A source of the same size but other content, cached, then its cache
    // file put where this source's would be.
    const auto other = f.tmp.path() / "other" / f.source.filename();
    std::filesystem::create_directories(other.parent_path());
    test::write_file(other, images_bytes(700, 1), true);
    auto o = open_idx_bytes(other, f.options);
    REQUIRE(o.has_value());
    const auto gz = read_all(other);
    const auto stamp = gzip_stamp_of(
        std::span(reinterpret_cast<const std::uint8_t*>(gz.data()), gz.size()));
    std::filesystem::copy_file(
        f.cache / idx_cache_name(other, stamp.crc32), file,
        std::filesystem::copy_options::overwrite_existing);
    auto b = f.open();
    CHECK(b.origin() == idx_origin::inflated_cached);
    CHECK(as_string(b.bytes()) == f.raw);
  }
  SUBCASE("the source replaced: its own cache file, the old one unused") {
    test::write_file(f.source, images_bytes(700, 2), true);
    auto b = f.open();
    CHECK(b.origin() == idx_origin::inflated_cached);
    CHECK(as_string(b.bytes()) == images_bytes(700, 2));
    CHECK(files_in(f.cache).size() == 2);
  }
}

TEST_CASE("idx_cache: where no cache can be written, the data is still read") {
  fixture f;
  SUBCASE("data.cache_dir = off") {
    f.options.cache_dirs = idx_cache_dirs("off", f.tmp.path());
    auto b = f.open();
    CHECK(b.origin() == idx_origin::inflated);
    CHECK(as_string(b.bytes()) == f.raw);
  }
  SUBCASE("a read-only data folder: its .cache is not made, the next is") {
    const auto data = f.tmp.path() / "ro";
    std::filesystem::create_directories(data);
    std::filesystem::copy_file(f.source, data / f.source.filename());
    ::chmod(data.c_str(), 0555);  // even root leaves it alone
    f.options.cache_dirs = {{data / ".cache", idx_cache_dir::kind::beside_data},
                            {f.cache, idx_cache_dir::kind::chosen}};
    auto b = open_idx_bytes(data / f.source.filename(), f.options);
    ::chmod(data.c_str(), 0755);
    REQUIRE(b.has_value());
    CHECK(b->origin() == idx_origin::inflated_cached);
    CHECK(as_string(b->bytes()) == f.raw);
    CHECK_FALSE(std::filesystem::exists(data / ".cache"));
    CHECK(files_in(f.cache).size() == 1);
  }
  SUBCASE("a writable data folder: its .cache") {
    f.options.cache_dirs = idx_cache_dirs("", f.tmp.path());
    REQUIRE(f.options.cache_dirs.size() == 2);
    CHECK(f.options.cache_dirs[0].path == f.tmp.path() / ".cache");
    auto b = f.open();
    CHECK(b.origin() == idx_origin::inflated_cached);
    CHECK(files_in(f.tmp.path() / ".cache").size() == 1);
  }
  SUBCASE("a shared folder that others may write is not trusted") {
    std::filesystem::create_directories(f.cache);
    ::chmod(f.cache.c_str(), 0777);
    f.options.cache_dirs = {{f.cache, idx_cache_dir::kind::private_tmp}};
    auto b = f.open();
    CHECK(b.origin() == idx_origin::inflated);
    CHECK(b.note().find("not a private folder") != std::string::npos);
    CHECK(as_string(b.bytes()) == f.raw);
    CHECK(files_in(f.cache).empty());
  }
  SUBCASE("a cache folder that cannot be made") {
    test::write_file(f.cache, "a file, not a folder");
    auto b = f.open();
    CHECK(b.origin() == idx_origin::inflated);
    CHECK(as_string(b.bytes()) == f.raw);
  }
}

TEST_CASE("idx_cache: a broken source gives its own error and leaves nothing") {
  fixture f;
  auto gz = read_all(f.source);
  gz[gz.size() / 2] ^= 0x5a;  // inside the deflate data
  test::write_file(f.source, gz);
  auto b = open_idx_bytes(f.source, f.options);
  REQUIRE_FALSE(b.has_value());
  // The same message as the reader without a cache: file and offset.
  auto direct = read_maybe_gzip(f.source);
  REQUIRE_FALSE(direct.has_value());
  CHECK(b.error().message == direct.error().message);
  CHECK(b.error().message.find(f.source.string() + ": gzip") == 0);
  CHECK(b.error().message.find("byte offset") != std::string::npos);
  CHECK(files_in(f.cache).empty());  // no partial or temporary file

  const auto missing = f.tmp.path() / "nothing.gz";
  auto none = open_idx_bytes(missing, f.options);
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == errc::not_found);
  CHECK(none.error().message.find(missing.string() + ": cannot open") == 0);
}

TEST_CASE("idx_cache: processes starting together inflate once") {
  // Threads stand in for processes: each opens the lock file itself, so
  // flock(2) keeps them apart as it does processes.
  fixture f;
  std::vector<std::string> got(4);
  std::vector<idx_origin> origins(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      auto b = open_idx_bytes(f.source, f.options);
      if (b) {
        got[i] = as_string(b->bytes());
        origins[i] = b->origin();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& g : got) CHECK(g == f.raw);
  CHECK(std::count(origins.begin(), origins.end(),
                   idx_origin::inflated_cached) == 1);
  CHECK(files_in(f.cache).size() == 1);
}

TEST_CASE("idx_cache_format: the header round trip, and each check") {
  cache_header h;
  h.source = {1234, 0xdeadbeef, 9000};
  h.payload_bytes = 9000;
  h.chunk_bytes = 4096;
  h.chunk_crcs = {1, 2, 3};
  auto file = encode_cache_header(h);
  CHECK(file.size() == 4096);
  file.resize(file.size() + 9000, 0);
  auto back = decode_cache_header(file, "c");
  REQUIRE_MESSAGE(back.has_value(), back.error().message);
  CHECK(back->source == h.source);
  CHECK(back->chunk_crcs == h.chunk_crcs);
  CHECK(back->payload_offset() == 4096);

  auto broken = [&](std::size_t at) {
    auto copy = file;
    copy[at] ^= 1;
    auto d = decode_cache_header(copy, "c");
    return d.has_value() ? std::string() : d.error().message;
  };
  CHECK(broken(0) == "c: not an IDX cache file (magic)");
  CHECK(broken(16).find("c: cache format version") == 0);
  CHECK(broken(24) == "c: header checksum mismatch");  // the stamp
  CHECK(broken(64) == "c: header checksum mismatch");  // a chunk's CRC
  CHECK(broken(48).find("c: chunk count") == 0);
  auto short_file = file;
  short_file.resize(short_file.size() - 1);
  CHECK(decode_cache_header(short_file, "c").error().message ==
        "c: file has 13095 bytes, expected 13096 (truncated)");
}
