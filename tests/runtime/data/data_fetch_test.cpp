// Tests of `emnist data fetch` against a local HTTP server: the test builds a
// small zip of fake emnist-mnist-* members (deflated and stored), serves it
// from 127.0.0.1 with Range support, and checks downloads, verification,
// skipping of present files, and the failures (404, ignored Range, corrupt
// archive, checksum mismatch) that must leave no file behind. No external
// network is used.
#include "runtime/data/data_fetch.hpp"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "runtime/data/sha256.hpp"
#include "test_support.hpp"

namespace {

namespace fs = std::filesystem;
using byte_vector = std::vector<std::byte>;

// --- a tiny zip writer ------------------------------------------------------

struct zip_member {
  std::string name;
  byte_vector data;
  bool deflate = true;  ///< method 8 (raw deflate), else 0 (stored)
};

void put16(byte_vector& b, unsigned v) {
  b.push_back(static_cast<std::byte>(v & 0xff));
  b.push_back(static_cast<std::byte>((v >> 8) & 0xff));
}

void put32(byte_vector& b, std::uint32_t v) {
  put16(b, v & 0xffff);
  put16(b, v >> 16);
}

void put_str(byte_vector& b, std::string_view s) {
  for (char c : s) b.push_back(static_cast<std::byte>(c));
}

byte_vector raw_deflate(const byte_vector& in) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -MAX_WBITS, 8,
                       Z_DEFAULT_STRATEGY) == Z_OK);
  byte_vector out(deflateBound(&z, static_cast<uLong>(in.size())));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::uint32_t crc_of(const byte_vector& b) {
  return static_cast<std::uint32_t>(
      crc32_z(0, reinterpret_cast<const Bytef*>(b.data()), b.size()));
}

/// A zip archive: local headers and data, central directory, EOCD.
/// `data_offsets` gets each member's data offset (to corrupt it in tests).
byte_vector make_zip(const std::vector<zip_member>& members,
                     std::string_view comment = {},
                     std::vector<std::size_t>* data_offsets = nullptr) {
  byte_vector file;
  byte_vector cd;
  for (const zip_member& m : members) {
    const byte_vector packed = m.deflate ? raw_deflate(m.data) : m.data;
    const unsigned method = m.deflate ? 8 : 0;
    const std::uint32_t crc = crc_of(m.data);
    const auto offset = static_cast<std::uint32_t>(file.size());
    const auto name_len = static_cast<unsigned>(m.name.size());
    put32(file, 0x04034b50);
    put16(file, 20);
    put16(file, 0);
    put16(file, method);
    put16(file, 0);
    put16(file, 0x21);
    put32(file, crc);
    put32(file, static_cast<std::uint32_t>(packed.size()));
    put32(file, static_cast<std::uint32_t>(m.data.size()));
    put16(file, name_len);
    put16(file, 4);  // an extra field the central directory does not have
    put_str(file, m.name);
    put_str(file, std::string_view("\xfe\xca\x00\x00", 4));
    if (data_offsets != nullptr) data_offsets->push_back(file.size());
    file.insert(file.end(), packed.begin(), packed.end());

    put32(cd, 0x02014b50);
    put16(cd, 0x031e);
    put16(cd, 20);
    put16(cd, 0);
    put16(cd, method);
    put16(cd, 0);
    put16(cd, 0x21);
    put32(cd, crc);
    put32(cd, static_cast<std::uint32_t>(packed.size()));
    put32(cd, static_cast<std::uint32_t>(m.data.size()));
    put16(cd, name_len);
    put16(cd, 0);
    put16(cd, 0);
    put16(cd, 0);
    put16(cd, 0);
    put32(cd, 0);
    put32(cd, offset);
    put_str(cd, m.name);
  }
  const auto cd_offset = static_cast<std::uint32_t>(file.size());
  file.insert(file.end(), cd.begin(), cd.end());
  put32(file, 0x06054b50);
  put16(file, 0);
  put16(file, 0);
  put16(file, static_cast<unsigned>(members.size()));
  put16(file, static_cast<unsigned>(members.size()));
  put32(file, static_cast<std::uint32_t>(cd.size()));
  put32(file, cd_offset);
  put16(file, static_cast<unsigned>(comment.size()));
  put_str(file, comment);
  return file;
}

// --- a tiny HTTP/1.1 server with Range support ------------------------------

/// Serves byte buffers by path on 127.0.0.1 (a free port), one connection
/// at a time, on its own thread. Understands `Range: bytes=a-b`, `a-` and
/// `-n` (206 with Content-Range, or 416); unknown paths get 404. Every
/// response closes the connection.
class http_range_server {
 public:
  http_range_server() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(fd_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~http_range_server() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  http_range_server(const http_range_server&) = delete;
  http_range_server& operator=(const http_range_server&) = delete;

  void serve(const std::string& path, byte_vector body) {
    std::lock_guard lock(mutex_);
    files_[path] = std::move(body);
  }
  /// Answer requests for `from` with a 302 to `to` (a path).
  void redirect(const std::string& from, const std::string& to) {
    std::lock_guard lock(mutex_);
    redirects_[from] = to;
  }
  [[nodiscard]] std::string url(std::string_view path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
  }
  /// Answer 200 with the whole body, as if Range were not supported.
  std::atomic<bool> ignore_range{false};
  /// Requests answered so far.
  [[nodiscard]] int requests() const { return requests_.load(); }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 10) <= 0) continue;
      const int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) continue;
      handle(conn);
      ::close(conn);
    }
  }

  static bool iprefix(std::string_view s, std::string_view p) {
    if (s.size() < p.size()) return false;
    for (std::size_t i = 0; i < p.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(s[i])) != p[i]) return false;
    return true;
  }

  static void send_all(int conn, std::string_view head,
                       std::span<const std::byte> body) {
    auto send_span = [conn](const char* p, std::size_t n) {
      while (n > 0) {
        const ssize_t k = ::send(conn, p, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        p += k;
        n -= static_cast<std::size_t>(k);
      }
      return true;
    };
    if (send_span(head.data(), head.size()))
      send_span(reinterpret_cast<const char*>(body.data()), body.size());
  }

  void handle(int conn) {
    std::string req;
    char buf[4096];
    while (req.find("\r\n\r\n") == std::string::npos && req.size() < 65536) {
      pollfd p{conn, POLLIN, 0};
      if (::poll(&p, 1, 2000) <= 0) return;
      const ssize_t n = ::recv(conn, buf, sizeof buf, 0);
      if (n <= 0) return;
      req.append(buf, static_cast<std::size_t>(n));
    }
    ++requests_;
    const std::size_t sp1 = req.find(' ');
    const std::size_t sp2 = req.find(' ', sp1 + 1);
    const std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string range;
    for (std::size_t pos = req.find("\r\n"); pos != std::string::npos;) {
      const std::size_t next = req.find("\r\n", pos + 2);
      if (next == std::string::npos) break;
      const std::string_view line(req.data() + pos + 2, next - pos - 2);
      if (iprefix(line, "range:")) {
        range = std::string(line.substr(6));
        range.erase(0, range.find_first_not_of(' '));
      }
      pos = next;
    }
    byte_vector body;
    {
      std::lock_guard lock(mutex_);
      if (auto r = redirects_.find(path); r != redirects_.end()) {
        send_all(conn,
                 "HTTP/1.1 302 Found\r\nLocation: " + r->second +
                     "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                 {});
        return;
      }
      auto it = files_.find(path);
      if (it == files_.end()) {
        send_all(conn,
                 "HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n"
                 "Connection: close\r\n\r\nnot found\n",
                 {});
        return;
      }
      body = it->second;
    }
    const std::uint64_t size = body.size();
    if (range.empty() || ignore_range) {
      send_all(conn,
               "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(size) +
                   "\r\nConnection: close\r\n\r\n",
               body);
      return;
    }
    // bytes=a-b | bytes=a- | bytes=-n
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    bool ok = range.rfind("bytes=", 0) == 0;
    const std::string spec = ok ? range.substr(6) : "";
    const std::size_t dash = spec.find('-');
    ok = ok && dash != std::string::npos;
    auto num = [](std::string_view s, std::uint64_t& v) {
      return !s.empty() &&
             std::from_chars(s.data(), s.data() + s.size(), v).ptr ==
                 s.data() + s.size();
    };
    if (ok && dash == 0) {
      std::uint64_t n = 0;
      ok = num(std::string_view(spec).substr(1), n) && n > 0 && size > 0;
      first = size - std::min(n, size);
      last = size - 1;
    } else if (ok) {
      ok = num(std::string_view(spec).substr(0, dash), first);
      const std::string_view rest = std::string_view(spec).substr(dash + 1);
      last = size - 1;
      if (ok && !rest.empty()) ok = num(rest, last);
      last = std::min(last, size - 1);
      ok = ok && first < size && first <= last;
    }
    if (!ok) {
      send_all(conn,
               "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */" +
                   std::to_string(size) +
                   "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
               {});
      return;
    }
    const std::uint64_t len = last - first + 1;
    send_all(conn,
             "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes " +
                 std::to_string(first) + "-" + std::to_string(last) + "/" +
                 std::to_string(size) + "\r\nContent-Length: " +
                 std::to_string(len) + "\r\nConnection: close\r\n\r\n",
             std::span<const std::byte>(body).subspan(first, len));
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::mutex mutex_;
  std::map<std::string, byte_vector> files_;
  std::map<std::string, std::string> redirects_;
};

// --- fixtures ---------------------------------------------------------------

/// A fresh folder under the system temp folder, removed at the end.
struct temp_dir {
  fs::path path;
  temp_dir() {
    static std::atomic<int> counter{0};
    path = fs::temp_directory_path() /
           ("emnist_fetch_test_" + std::to_string(::getpid()) + "_" +
            std::to_string(counter++));
    fs::remove_all(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

/// Deterministic, compressible but not trivial bytes.
byte_vector sample_bytes(std::size_t n, std::uint32_t seed) {
  byte_vector b(n);
  std::uint32_t x = seed;
  for (std::size_t i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    b[i] = static_cast<std::byte>((i % 251) ^ ((x >> 24) & 0x0f));
  }
  return b;
}

byte_vector text_bytes(std::string_view s) {
  byte_vector b;
  put_str(b, s);
  return b;
}

byte_vector read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<char> c((std::istreambuf_iterator<char>(in)),
                      std::istreambuf_iterator<char>());
  byte_vector b(c.size());
  std::transform(c.begin(), c.end(), b.begin(),
                 [](char ch) { return static_cast<std::byte>(ch); });
  return b;
}

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& e : fs::directory_iterator(dir))
    names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool has_part_file(const fs::path& dir) {
  for (const std::string& n : listing(dir))
    if (n.size() > 5 && n.ends_with(".part")) return true;
  return false;
}

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

const std::vector<std::string> mnist_files = {
    "emnist-mnist-train-images-idx3-ubyte.gz",
    "emnist-mnist-train-labels-idx1-ubyte.gz",
    "emnist-mnist-test-images-idx3-ubyte.gz",
    "emnist-mnist-test-labels-idx1-ubyte.gz", "emnist-mnist-mapping.txt"};

/// The fake mnist split: its files' contents, the archive, and a checksum
/// table with sha256 and size of the four .gz files (the mapping file is
/// left out, so it is checked by CRC-32 alone, as for most real splits).
struct fake_release {
  std::map<std::string, byte_vector> content;
  std::vector<zip_member> members;
  emnist::checksum_table sums;
  std::vector<std::size_t> data_offsets;
  byte_vector zip;

  explicit fake_release(std::string_view comment = {}) {
    content[mnist_files[0]] = sample_bytes(200000, 1);
    content[mnist_files[1]] = sample_bytes(3000, 2);
    content[mnist_files[2]] = sample_bytes(50000, 3);
    content[mnist_files[3]] = sample_bytes(1000, 4);
    content[mnist_files[4]] = text_bytes("0 48\n1 49\n2 50\n3 51\n");
    members.push_back(
        {"gzip/emnist-digits-mapping.txt", text_bytes("0 48\n1 49\n"), true});
    for (const std::string& name : mnist_files) {
      // The test images are stored, the others deflated.
      members.push_back(
          {"gzip/" + name, content[name], name != mnist_files[2]});
    }
    for (std::size_t i = 0; i < 4; ++i) {
      const byte_vector& c = content[mnist_files[i]];
      sums[mnist_files[i]] = {*emnist::sha256_hex(c), c.size()};
    }
    zip = make_zip(members, comment, &data_offsets);
  }
};

emnist::fetch_options options_for(const http_range_server& server,
                                  const std::string& path, const fs::path& dir,
                                  const emnist::checksum_table& sums) {
  emnist::fetch_options o;
  o.url = server.url(path);
  o.dir = dir;
  o.split = "mnist";
  o.checksums = &sums;
  o.progress = false;
  return o;
}

}  // namespace

TEST_CASE("data_fetch: fetches a split's members byte for byte") {
  fake_release rel;
  http_range_server server;
  server.serve("/gzip.zip", rel.zip);
  temp_dir tmp;
  auto opts =
      options_for(server, "/gzip.zip", tmp.path / "sub" / "dir", rel.sums);
  opts.progress = true;  // exercises the bar (one line per 10% off a TTY)
  auto r = emnist::fetch_split(opts);
  REQUIRE_MESSAGE(r, emnist::test::error_text(r));
  CHECK(r->downloaded == mnist_files);
  CHECK(r->present.empty());
  for (const std::string& name : mnist_files) {
    CHECK_MESSAGE(read_file(opts.dir / name) == rel.content[name], name);
  }
  for (std::size_t i = 0; i < 4; ++i) {
    auto sum = emnist::sha256_file(opts.dir / mnist_files[i]);
    REQUIRE(sum);
    CHECK(*sum == rel.sums[mnist_files[i]].sha256_hex);
  }
  std::vector<std::string> sorted = mnist_files;
  std::sort(sorted.begin(), sorted.end());
  CHECK(listing(opts.dir) == sorted);  // nothing else, no part file
  // One tail (holding the directory), then header and data of each member.
  CHECK(server.requests() == 1 + 2 * 5);
}

TEST_CASE("data_fetch: a second fetch reports the files present") {
  fake_release rel;
  http_range_server server;
  server.serve("/gzip.zip", rel.zip);
  temp_dir tmp;
  auto opts = options_for(server, "/gzip.zip", tmp.path, rel.sums);
  REQUIRE(emnist::fetch_split(opts));
  const int after_first = server.requests();

  auto again = emnist::fetch_split(opts);
  REQUIRE_MESSAGE(again, emnist::test::error_text(again));
  CHECK(again->downloaded.empty());
  CHECK(again->present == mnist_files);
  // Only the tail, to check the mapping file by the archive's CRC-32.
  CHECK(server.requests() == after_first + 1);

  // With every sum known nothing is requested at all.
  emnist::checksum_table all = rel.sums;
  const byte_vector& mapping = rel.content[mnist_files[4]];
  all[mnist_files[4]] = {*emnist::sha256_hex(mapping), mapping.size()};
  opts.checksums = &all;
  const int before = server.requests();
  again = emnist::fetch_split(opts);
  REQUIRE(again);
  CHECK(again->present == mnist_files);
  CHECK(server.requests() == before);

  // A damaged file (same size) and a missing one are fetched again.
  {
    std::fstream f(tmp.path / mnist_files[1],
                   std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100);
    f.put('\x7f');
  }
  fs::remove(tmp.path / mnist_files[4]);
  again = emnist::fetch_split(opts);
  REQUIRE(again);
  CHECK(again->downloaded ==
        std::vector<std::string>{mnist_files[1], mnist_files[4]});
  CHECK(again->present.size() == 3);
  CHECK(read_file(tmp.path / mnist_files[1]) == rel.content[mnist_files[1]]);
}

TEST_CASE("data_fetch: a wrong sha256 fails naming the member, no file left") {
  fake_release rel;
  http_range_server server;
  server.serve("/gzip.zip", rel.zip);
  temp_dir tmp;
  emnist::checksum_table wrong = rel.sums;
  const std::string bad(64, 'a');
  wrong[mnist_files[1]].sha256_hex = bad;
  auto r =
      emnist::fetch_split(options_for(server, "/gzip.zip", tmp.path, wrong));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == emnist::errc::data_loss);
  CHECK(r.error().message == "gzip.zip member gzip/" + mnist_files[1] +
                                 ": sha256 mismatch: expected " + bad +
                                 ", got " +
                                 rel.sums[mnist_files[1]].sha256_hex);
  CHECK_FALSE(fs::exists(tmp.path / mnist_files[1]));
  CHECK_FALSE(has_part_file(tmp.path));
}

TEST_CASE(
    "data_fetch: a size that differs from the table fails before "
    "downloading") {
  fake_release rel;
  http_range_server server;
  server.serve("/gzip.zip", rel.zip);
  temp_dir tmp;
  emnist::checksum_table wrong = rel.sums;
  wrong[mnist_files[3]].bytes += 1;
  auto r =
      emnist::fetch_split(options_for(server, "/gzip.zip", tmp.path, wrong));
  REQUIRE_FALSE(r);
  CHECK(contains(r.error().message, "gzip.zip member gzip/" + mnist_files[3] +
                                        ": has 1000 bytes, expected 1001"));
  CHECK(listing(tmp.path).empty());
  CHECK(server.requests() == 1);
}

TEST_CASE("data_fetch: corrupt member data fails and leaves no file") {
  fake_release rel;
  http_range_server server;
  temp_dir tmp;
  SUBCASE("deflated member") {
    byte_vector bad = rel.zip;
    bad[rel.data_offsets[1] + 500] ^= std::byte{0x55};  // train images
    server.serve("/gzip.zip", bad);
  }
  SUBCASE("stored member") {
    byte_vector bad = rel.zip;
    bad[rel.data_offsets[3] + 7] ^= std::byte{0x01};  // test images
    server.serve("/gzip.zip", bad);
  }
  auto r =
      emnist::fetch_split(options_for(server, "/gzip.zip", tmp.path, rel.sums));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == emnist::errc::data_loss);
  CHECK(contains(r.error().message, "gzip.zip member gzip/emnist-mnist-"));
  CHECK_FALSE(has_part_file(tmp.path));
  for (const std::string& name : listing(tmp.path))
    CHECK(read_file(tmp.path / name) == rel.content[name]);
}

TEST_CASE("data_fetch: HTTP errors and servers without Range fail clearly") {
  fake_release rel;
  http_range_server server;
  server.serve("/gzip.zip", rel.zip);
  temp_dir tmp;

  auto r = emnist::fetch_split(
      options_for(server, "/missing.zip", tmp.path, rel.sums));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == emnist::errc::not_found);
  CHECK(r.error().message == server.url("/missing.zip") + ": HTTP 404");

  server.ignore_range = true;
  r = emnist::fetch_split(options_for(server, "/gzip.zip", tmp.path, rel.sums));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == emnist::errc::invalid_argument);
  CHECK(contains(r.error().message, server.url("/gzip.zip") +
                                        ": the server ignored the Range "
                                        "request (HTTP 200 instead of 206"));
  CHECK(listing(tmp.path).empty());

  // A port nobody listens on.
  int port = 0;
  {
    http_range_server gone;
    port = std::stoi(gone.url("").substr(17));
  }
  auto opts = options_for(server, "/gzip.zip", tmp.path, rel.sums);
  opts.url = "http://127.0.0.1:" + std::to_string(port) + "/gzip.zip";
  r = emnist::fetch_split(opts);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == emnist::errc::unavailable);
  CHECK(contains(r.error().message, opts.url + ": "));

  opts.url = "ftp://127.0.0.1/gzip.zip";
  r = emnist::fetch_split(opts);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == emnist::errc::invalid_argument);
  CHECK(contains(r.error().message, "does not start with http://"));
}

TEST_CASE("data_fetch: follows redirects") {
  fake_release rel;
  http_range_server server;
  server.serve("/files/gzip.zip", rel.zip);
  server.redirect("/gzip.zip", "/files/gzip.zip");
  temp_dir tmp;
  auto r =
      emnist::fetch_split(options_for(server, "/gzip.zip", tmp.path, rel.sums));
  REQUIRE_MESSAGE(r, emnist::test::error_text(r));
  CHECK(r->downloaded == mnist_files);
  for (const std::string& name : mnist_files)
    CHECK(read_file(tmp.path / name) == rel.content[name]);
}

TEST_CASE(
    "data_fetch: a truncated archive or a missing member fails "
    "clearly") {
  fake_release rel;
  http_range_server server;
  temp_dir tmp;
  byte_vector cut(rel.zip.begin(), rel.zip.end() - 30);  // EOCD gone
  server.serve("/cut.zip", cut);
  auto r =
      emnist::fetch_split(options_for(server, "/cut.zip", tmp.path, rel.sums));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == emnist::errc::data_loss);
  CHECK(r.error().message ==
        "cut.zip: end of central directory not found in the last 65557 bytes");

  std::vector<zip_member> some(rel.members.begin(), rel.members.end() - 1);
  server.serve("/some.zip", make_zip(some));
  r = emnist::fetch_split(options_for(server, "/some.zip", tmp.path, rel.sums));
  REQUIRE_FALSE(r);
  CHECK(r.error().code == emnist::errc::not_found);
  CHECK(contains(r.error().message,
                 "some.zip: member gzip/emnist-mnist-mapping.txt not in "
                 "archive"));
  CHECK(listing(tmp.path).empty());

  auto opts = options_for(server, "/some.zip", tmp.path, rel.sums);
  opts.split = "kmnist";
  r = emnist::fetch_split(opts);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == emnist::errc::invalid_argument);
  CHECK(contains(r.error().message, "unknown EMNIST split 'kmnist'"));
}

TEST_CASE("data_fetch: reads a central directory outside the fetched tail") {
  // A 65500-byte archive comment pushes the directory out of the last
  // 65557 bytes, so it takes a request of its own.
  fake_release rel(std::string(65500, 'c'));
  http_range_server server;
  server.serve("/gzip.zip", rel.zip);
  temp_dir tmp;
  auto r =
      emnist::fetch_split(options_for(server, "/gzip.zip", tmp.path, rel.sums));
  REQUIRE_MESSAGE(r, emnist::test::error_text(r));
  CHECK(r->downloaded == mnist_files);
  CHECK(server.requests() == 2 + 2 * 5);
  for (const std::string& name : mnist_files)
    CHECK(read_file(tmp.path / name) == rel.content[name]);
}

TEST_CASE("data_fetch: the official table and split names") {
  const emnist::checksum_table& t = emnist::official_checksums();
  CHECK(t.size() == 25);
  auto it = t.find("emnist-bymerge-test-labels-idx1-ubyte.gz");
  REQUIRE(it != t.end());
  CHECK(it->second.bytes == 79351);
  CHECK(it->second.sha256_hex ==
        "8bda1516255683ba9071e141947ca0c91a911176065cdd6259b0b4d8dc5b5f35");
  for (const auto& [name, sum] : t) {
    CHECK(sum.sha256_hex.size() == 64);
    CHECK(sum.bytes > 0);
  }
  CHECK(emnist::is_known_split("balanced"));
  CHECK_FALSE(emnist::is_known_split("bymerge "));
  CHECK(emnist::check_split("digits"));
  CHECK(emnist::split_files("mnist") == mnist_files);
  for (std::string_view split :
       {"byclass", "bymerge", "balanced", "letters", "digits", "mnist"})
    for (const std::string& name : emnist::split_files(split))
      if (name.ends_with(".gz")) CHECK_MESSAGE(t.count(name) == 1, name);
  CHECK(emnist::default_archive_url ==
        "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip");
}

TEST_CASE("data_fetch: sha256 of known vectors and of a missing file") {
  CHECK(*emnist::sha256_hex({}) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  emnist::sha256 h;
  h.update("a", 1);
  h.update(std::as_bytes(std::span("bc", 2)));
  CHECK(*h.hex_digest() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  h.update("abc", 3);  // reusable after a digest
  CHECK(*h.hex_digest() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto missing = emnist::sha256_file("/nonexistent/emnist/x.gz");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == emnist::errc::not_found);
  CHECK(contains(missing.error().message, "/nonexistent/emnist/x.gz: "));
}
