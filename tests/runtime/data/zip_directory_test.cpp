// Tests of the zip directory parser on crafted buffers: a well-formed
// archive, comments, and truncated, malformed, ZIP64 and multi-disk ones.
#include "runtime/data/zip_directory.hpp"

#include <doctest/doctest.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

using emnist::errc;

/// Little-endian byte buffer builder.
struct bytes {
  std::vector<std::byte> b;

  bytes& u8(unsigned v) {
    b.push_back(static_cast<std::byte>(v & 0xff));
    return *this;
  }
  bytes& u16(unsigned v) { return u8(v).u8(v >> 8); }
  bytes& u32(std::uint32_t v) { return u16(v & 0xffff).u16(v >> 16); }
  bytes& str(std::string_view s) {
    for (char c : s) u8(static_cast<unsigned char>(c));
    return *this;
  }
  bytes& append(const bytes& o) {
    b.insert(b.end(), o.b.begin(), o.b.end());
    return *this;
  }
  bytes& fill(std::size_t n, unsigned v = 0) {
    b.insert(b.end(), n, static_cast<std::byte>(v));
    return *this;
  }
  [[nodiscard]] std::size_t size() const { return b.size(); }
  [[nodiscard]] std::span<const std::byte> span() const { return b; }
};

struct eocd_fields {
  unsigned disk = 0;
  unsigned cd_disk = 0;
  unsigned disk_entries = 0;
  unsigned entries = 0;
  std::uint32_t cd_size = 0;
  std::uint32_t cd_offset = 0;
  std::string comment{};
  int comment_len = -1;  ///< -1: the comment's real length
};

bytes eocd_record(const eocd_fields& f) {
  bytes r;
  r.u32(0x06054b50)
      .u16(f.disk)
      .u16(f.cd_disk)
      .u16(f.disk_entries)
      .u16(f.entries)
      .u32(f.cd_size)
      .u32(f.cd_offset);
  r.u16(f.comment_len < 0 ? static_cast<unsigned>(f.comment.size())
                          : static_cast<unsigned>(f.comment_len));
  r.str(f.comment);
  return r;
}

struct entry_fields {
  std::string name{};
  unsigned flags = 0;
  unsigned method = 8;
  std::uint32_t crc = 0x12345678;
  std::uint32_t csize = 5;
  std::uint32_t usize = 7;
  std::uint32_t lho = 0;
  std::string extra{};
  std::string comment{};
};

bytes central_header(const entry_fields& f) {
  bytes r;
  r.u32(0x02014b50)
      .u16(20)
      .u16(20)
      .u16(f.flags)
      .u16(f.method)
      .u16(0)
      .u16(0)
      .u32(f.crc)
      .u32(f.csize)
      .u32(f.usize)
      .u16(static_cast<unsigned>(f.name.size()))
      .u16(static_cast<unsigned>(f.extra.size()))
      .u16(static_cast<unsigned>(f.comment.size()))
      .u16(0)
      .u16(0)
      .u32(0)
      .u32(f.lho);
  r.str(f.name).str(f.extra).str(f.comment);
  return r;
}

bytes local_header(std::string_view name, unsigned method,
                   std::string_view extra = {}) {
  bytes r;
  r.u32(0x04034b50)
      .u16(20)
      .u16(0)
      .u16(method)
      .u16(0)
      .u16(0)
      .u32(0)
      .u32(0)
      .u32(0)
      .u16(static_cast<unsigned>(name.size()))
      .u16(static_cast<unsigned>(extra.size()));
  r.str(name).str(extra);
  return r;
}

/// A two-member archive: "a.txt" (stored, extra field in its local header)
/// at 0 and "dir/b.bin" (deflated) after it, then directory and EOCD.
struct sample_archive {
  bytes file;
  std::uint32_t cd_offset = 0;
  std::uint32_t cd_size = 0;
  std::uint64_t eocd_offset = 0;
  std::uint32_t b_offset = 0;

  explicit sample_archive(std::string comment = {}) {
    file.append(local_header("a.txt", 0, "xtra")).str("hello");
    b_offset = static_cast<std::uint32_t>(file.size());
    file.append(local_header("dir/b.bin", 8)).str("ABCDEFGHIJ");
    cd_offset = static_cast<std::uint32_t>(file.size());
    file.append(central_header({.name = "a.txt",
                                .method = 0,
                                .crc = 0x3610a686,
                                .csize = 5,
                                .usize = 5,
                                .lho = 0}));
    file.append(central_header({.name = "dir/b.bin",
                                .method = 8,
                                .crc = 7,
                                .csize = 10,
                                .usize = 100,
                                .lho = b_offset,
                                .extra = "ex",
                                .comment = "comment"}));
    cd_size = static_cast<std::uint32_t>(file.size() - cd_offset);
    eocd_offset = file.size();
    file.append(eocd_record({.disk_entries = 2,
                             .entries = 2,
                             .cd_size = cd_size,
                             .cd_offset = cd_offset,
                             .comment = std::move(comment)}));
  }
};

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST_CASE("zip_directory: reads a small archive end to end") {
  sample_archive z;
  auto eocd = emnist::find_zip_eocd(z.file.span(), 0, "t.zip");
  REQUIRE(eocd);
  CHECK(eocd->offset == z.eocd_offset);
  CHECK(eocd->entry_count == 2);
  CHECK(eocd->cd_offset == z.cd_offset);
  CHECK(eocd->cd_size == z.cd_size);

  auto cd = z.file.span().subspan(z.cd_offset, z.cd_size);
  auto entries = emnist::parse_zip_central_directory(cd, *eocd, "t.zip");
  REQUIRE(entries);
  REQUIRE(entries->size() == 2);
  const emnist::zip_entry& a = (*entries)[0];
  const emnist::zip_entry& b = (*entries)[1];
  CHECK(a.name == "a.txt");
  CHECK(a.method == emnist::zip_method_stored);
  CHECK(a.crc32 == 0x3610a686);
  CHECK(a.compressed_size == 5);
  CHECK(a.uncompressed_size == 5);
  CHECK(a.local_header_offset == 0);
  CHECK_FALSE(a.encrypted());
  CHECK(b.name == "dir/b.bin");
  CHECK(b.method == emnist::zip_method_deflated);
  CHECK(b.compressed_size == 10);
  CHECK(b.uncompressed_size == 100);
  CHECK(b.local_header_offset == z.b_offset);

  // a.txt: 30 + 5 (name) + 4 (extra) bytes of header, then "hello".
  CHECK(emnist::zip_local_header_bytes(a) == 35);
  auto a_data = emnist::parse_zip_local_header(
      z.file.span().subspan(0, emnist::zip_local_header_bytes(a)), a,
      z.cd_offset, "t.zip");
  REQUIRE(a_data);
  CHECK(*a_data == 39);
  CHECK(std::string(reinterpret_cast<const char*>(z.file.b.data() + *a_data),
                    5) == "hello");
  auto b_data = emnist::parse_zip_local_header(
      z.file.span().subspan(b.local_header_offset), b, z.cd_offset, "t.zip");
  REQUIRE(b_data);
  CHECK(*b_data == z.b_offset + 30 + 9);
}

TEST_CASE("zip_directory: finds the record given only a tail, and offsets") {
  sample_archive z;
  // The last 40 bytes, as if they were fetched with a suffix range.
  const std::size_t n = 40;
  const std::uint64_t tail_offset = z.file.size() - n;
  auto eocd = emnist::find_zip_eocd(z.file.span().subspan(tail_offset),
                                    tail_offset, "t.zip");
  REQUIRE(eocd);
  CHECK(eocd->offset == z.eocd_offset);
  CHECK(eocd->cd_offset == z.cd_offset);
}

TEST_CASE("zip_directory: skips a comment and a fake signature inside it") {
  // The fake record in the comment announces a comment that would run past
  // the end of the file, so it is not the record.
  bytes fake = eocd_record(
      {.entries = 9, .cd_size = 1, .cd_offset = 1, .comment_len = 0xffff});
  std::string comment = "note ";
  comment.append(reinterpret_cast<const char*>(fake.b.data()), fake.size());
  comment += " end";
  sample_archive z(comment);
  auto eocd = emnist::find_zip_eocd(z.file.span(), 0, "t.zip");
  REQUIRE(eocd);
  CHECK(eocd->offset == z.eocd_offset);
  CHECK(eocd->entry_count == 2);
}

TEST_CASE("zip_directory: a buffer without a record is an error") {
  bytes junk;
  junk.fill(1000, 0x41);
  auto r = emnist::find_zip_eocd(junk.span(), 5000, "gzip.zip");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::data_loss);
  CHECK(r.error().message ==
        "gzip.zip: end of central directory not found in the last 1000 bytes");

  // More than the search window: only the window is searched and named.
  bytes big;
  big.append(eocd_record({}));
  big.fill(70000, 0);
  r = emnist::find_zip_eocd(big.span(), 0, "gzip.zip");
  REQUIRE_FALSE(r);
  CHECK(r.error().message ==
        "gzip.zip: end of central directory not found in the last 65557 "
        "bytes");

  // Shorter than a record, and a record cut short.
  bytes tiny;
  tiny.fill(10);
  CHECK_FALSE(emnist::find_zip_eocd(tiny.span(), 0, "t.zip"));
  CHECK_FALSE(emnist::find_zip_eocd({}, 0, "t.zip"));
  sample_archive z;
  auto cut = z.file.span().first(z.file.size() - 3);
  r = emnist::find_zip_eocd(cut, 0, "t.zip");
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "not found"));
}

TEST_CASE("zip_directory: ZIP64 and multi-disk archives are refused") {
  bytes z64;
  z64.fill(100);
  z64.append(eocd_record({.disk_entries = 0xffff,
                          .entries = 0xffff,
                          .cd_size = 0xffffffff,
                          .cd_offset = 0xffffffff}));
  auto r = emnist::find_zip_eocd(z64.span(), 0, "big.zip");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::invalid_argument);
  CHECK(contains(r.error().message, "big.zip: "));
  CHECK(contains(r.error().message, "ZIP64"));
  CHECK(contains(r.error().message, "at offset 100"));

  // A ZIP64 locator right before an ordinary looking record.
  bytes loc;
  loc.fill(50);
  loc.u32(0x07064b50).u32(0).u32(10).u32(0).u32(1);
  loc.append(eocd_record({.disk_entries = 0, .entries = 0}));
  r = emnist::find_zip_eocd(loc.span(), 0, "big.zip");
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message,
                 "ZIP64 end of central directory locator "
                 "at offset 50"));

  bytes multi;
  multi.fill(10);
  multi.append(
      eocd_record({.disk = 1, .cd_disk = 0, .disk_entries = 1, .entries = 3}));
  r = emnist::find_zip_eocd(multi.span(), 0, "m.zip");
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "multi-disk"));
}

TEST_CASE("zip_directory: an inconsistent record is an error naming offsets") {
  bytes b;
  b.fill(100);
  b.append(eocd_record(
      {.disk_entries = 1, .entries = 1, .cd_size = 60, .cd_offset = 1050}));
  auto r = emnist::find_zip_eocd(b.span(), 1000, "t.zip");
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::data_loss);
  CHECK(r.error().message ==
        "t.zip: central directory [1050, 1110) overlaps the end of central "
        "directory at offset 1100");

  bytes c;
  c.fill(100);
  c.append(eocd_record(
      {.disk_entries = 5, .entries = 5, .cd_size = 46, .cd_offset = 10}));
  r = emnist::find_zip_eocd(c.span(), 0, "t.zip");
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "cannot hold the 5 entries"));
}

TEST_CASE("zip_directory: malformed central directories are errors") {
  sample_archive z;
  auto eocd = emnist::find_zip_eocd(z.file.span(), 0, "t.zip");
  REQUIRE(eocd);
  const auto cd = z.file.span().subspan(z.cd_offset, z.cd_size);

  SUBCASE("buffer of the wrong size") {
    auto r = emnist::parse_zip_central_directory(cd.first(cd.size() - 1), *eocd,
                                                 "t.zip");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "buffer has"));
  }
  SUBCASE("more entries announced than present: fixed part truncated") {
    emnist::zip_eocd e = *eocd;
    e.entry_count = 3;
    auto r = emnist::parse_zip_central_directory(cd, e, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::data_loss);
    CHECK(contains(r.error().message, "central directory entry 2 at offset " +
                                          std::to_string(z.eocd_offset) +
                                          " is truncated"));
  }
  SUBCASE("name, extra and comment run past the end") {
    bytes one = central_header({.name = "abc", .comment = "long comment"});
    emnist::zip_eocd e{.offset = 500,
                       .entry_count = 1,
                       .cd_offset = 400,
                       .cd_size = one.size() - 4};
    auto r = emnist::parse_zip_central_directory(one.span().first(e.cd_size), e,
                                                 "t.zip");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "entry 0 at offset 400 is truncated"));
    CHECK(contains(r.error().message, "need 15 bytes"));
  }
  SUBCASE("bad signature names the offset") {
    std::vector<std::byte> bad(cd.begin(), cd.end());
    const std::size_t second = central_header({.name = "a.txt"}).size();
    bad[second] = std::byte{0x50};
    bad[second + 2] = std::byte{0x07};
    auto r = emnist::parse_zip_central_directory(bad, *eocd, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(r.error().message ==
          "t.zip: central directory entry 1 at offset " +
              std::to_string(z.cd_offset + second) +
              " has signature 0x02074b50, expected 0x02014b50");
  }
  SUBCASE("ZIP64 sizes in an entry") {
    bytes one = central_header({.name = "huge", .csize = 0xffffffff});
    emnist::zip_eocd e{.offset = 1000,
                       .entry_count = 1,
                       .cd_offset = 900,
                       .cd_size = one.size()};
    auto r = emnist::parse_zip_central_directory(one.span(), e, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::invalid_argument);
    CHECK(contains(r.error().message, "(huge) has ZIP64"));
  }
  SUBCASE("a local header offset past the directory") {
    bytes one = central_header({.name = "x", .lho = 890});
    emnist::zip_eocd e{.offset = 1000,
                       .entry_count = 1,
                       .cd_offset = 900,
                       .cd_size = one.size()};
    auto r = emnist::parse_zip_central_directory(one.span(), e, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "local header at offset 890"));
  }
  SUBCASE("an empty directory") {
    emnist::zip_eocd e{
        .offset = 0, .entry_count = 0, .cd_offset = 0, .cd_size = 0};
    auto r = emnist::parse_zip_central_directory({}, e, "t.zip");
    REQUIRE(r);
    CHECK(r->empty());
  }
}

TEST_CASE("zip_directory: malformed local headers are errors") {
  sample_archive z;
  emnist::zip_entry b{.name = "dir/b.bin",
                      .method = 8,
                      .crc32 = 7,
                      .compressed_size = 10,
                      .uncompressed_size = 100,
                      .local_header_offset = z.b_offset};
  const auto hdr = z.file.span().subspan(z.b_offset);

  SUBCASE("shorter than the fixed part") {
    auto r =
        emnist::parse_zip_local_header(hdr.first(29), b, z.cd_offset, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::data_loss);
    CHECK(r.error().message ==
          "t.zip member dir/b.bin: local header at offset " +
              std::to_string(z.b_offset) + " is truncated: 29 bytes, needs 30");
  }
  SUBCASE("name cut short") {
    auto r =
        emnist::parse_zip_local_header(hdr.first(33), b, z.cd_offset, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "its name needs 9 bytes, 3 were given"));
  }
  SUBCASE("bad signature") {
    auto r = emnist::parse_zip_local_header(z.file.span().subspan(5), b,
                                            z.cd_offset, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "has signature"));
  }
  SUBCASE("another name") {
    emnist::zip_entry other = b;
    other.name = "dir/c.bin";
    auto r = emnist::parse_zip_local_header(hdr, other, z.cd_offset, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message,
                   "names 'dir/b.bin', the central "
                   "directory names 'dir/c.bin'"));
  }
  SUBCASE("another method") {
    emnist::zip_entry other = b;
    other.method = 0;
    auto r = emnist::parse_zip_local_header(hdr, other, z.cd_offset, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message, "compression method 8"));
  }
  SUBCASE("data past the limit") {
    emnist::zip_entry other = b;
    other.compressed_size = 11;
    auto r = emnist::parse_zip_local_header(hdr, other, z.cd_offset, "t.zip");
    REQUIRE_FALSE(r);
    CHECK(contains(r.error().message,
                   "runs past offset " + std::to_string(z.cd_offset)));
  }
}
