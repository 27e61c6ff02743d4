// Fetching one EMNIST split from the official zip over HTTP range requests
// (see data_fetch.hpp). Pieces, top to bottom: a libcurl client for range
// requests, the progress bar, the part file, the member writer (inflate,
// CRC-32, sha256, write), and fetch_split, which ties them together.
#include "runtime/data/data_fetch.hpp"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <new>
#include <optional>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

#include "runtime/data/file_io.hpp"
#include "runtime/data/sha256.hpp"
#include "runtime/data/zip_directory.hpp"

namespace emnist {

namespace {

namespace fs = std::filesystem;

/// A transfer that cannot connect within this fails.
constexpr long connect_timeout_s = 30;
/// A transfer slower than low_speed_limit_bytes_per_s for low_speed_time_s
/// fails, so that a stalled server never hangs the fetch.
constexpr long low_speed_limit_bytes_per_s = 1024;
constexpr long low_speed_time_s = 60;
constexpr long max_redirects = 10;
/// A central directory larger than this is refused as corrupt (the real one
/// has 30 entries, a few KB).
constexpr std::uint64_t max_central_directory_bytes = 64u << 20;
constexpr std::size_t inflate_chunk_bytes = 256u << 10;
constexpr auto tty_redraw_interval = std::chrono::milliseconds(100);

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(v));
  return buf;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto a = static_cast<unsigned char>(s[i]);
    const auto b = static_cast<unsigned char>(prefix[i]);
    if (std::tolower(a) != std::tolower(b)) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == '\r' || s.back() == '\n' ||
                        s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty()) return false;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

/// "gzip.zip" for "https://host/cs_links/EMNIST/gzip.zip?x": names the
/// archive in error messages.
std::string archive_label(std::string_view url) {
  const std::size_t end = url.find_first_of("?#");
  std::string_view path = url.substr(0, end);
  const std::size_t slash = path.rfind('/');
  if (slash != std::string_view::npos) path.remove_prefix(slash + 1);
  return path.empty() ? std::string(url) : std::string(path);
}

// --- HTTP range requests ----------------------------------------------------

/// The byte range a 206 response carries: [first, last] of total.
struct content_range {
  std::uint64_t first = 0;
  std::uint64_t last = 0;
  std::uint64_t total = 0;
};

/// Parses "bytes 0-99/1234" (a Content-Range value).
std::optional<content_range> parse_content_range(std::string_view v) {
  v = trim(v);
  if (!iequals_prefix(v, "bytes ")) return std::nullopt;
  v.remove_prefix(6);
  v = trim(v);
  const std::size_t dash = v.find('-');
  const std::size_t slash = v.find('/');
  if (dash == std::string_view::npos || slash == std::string_view::npos ||
      slash < dash)
    return std::nullopt;
  content_range r;
  if (!parse_u64(v.substr(0, dash), r.first) ||
      !parse_u64(v.substr(dash + 1, slash - dash - 1), r.last) ||
      !parse_u64(v.substr(slash + 1), r.total) || r.last < r.first ||
      r.last >= r.total)
    return std::nullopt;
  return r;
}

error http_status_error(const std::string& url, long status) {
  errc code = errc::invalid_argument;
  if (status == 404 || status == 410) code = errc::not_found;
  if (status == 408 || status == 429 || status >= 500) code = errc::unavailable;
  return make_error(code, url + ": HTTP " + std::to_string(status));
}

bool curl_ready() {
  static const bool ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  return ok;
}

/// Receives the body of a range response, chunk by chunk; an error aborts
/// the transfer and becomes its result.
using body_sink = std::function<expected<void>(std::span<const std::byte>)>;

/// Range requests to one URL over one libcurl handle (which keeps the
/// connection alive between requests). Blocking; one thread at a time.
class range_client {
 public:
  explicit range_client(std::string url) : url_(std::move(url)) {
    if (curl_ready()) curl_ = curl_easy_init();
  }
  ~range_client() {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }
  range_client(const range_client&) = delete;
  range_client& operator=(const range_client&) = delete;

  /// Requests bytes [first, first + count): count > 0.
  expected<content_range> get(std::uint64_t first, std::uint64_t count,
                              const body_sink& sink) {
    return run(first, count, false, sink);
  }
  /// Requests the last `count` bytes (all of the file if it is shorter).
  expected<content_range> get_suffix(std::uint64_t count,
                                     const body_sink& sink) {
    return run(0, count, true, sink);
  }

 private:
  /// What one transfer has seen so far.
  struct transfer {
    range_client* self = nullptr;
    const body_sink* sink = nullptr;
    std::uint64_t first = 0;
    std::uint64_t count = 0;
    bool suffix = false;
    long status = 0;  ///< of the last status line (redirects come first)
    std::optional<content_range> range;
    bool checked = false;  ///< status and range validated (first body byte)
    std::uint64_t expected_bytes = 0;
    std::uint64_t received = 0;
    std::optional<error> failure;  ///< why we aborted the transfer
    std::exception_ptr exception;  ///< thrown in a callback, rethrown after
  };

  static std::size_t on_header(char* data, std::size_t size, std::size_t n,
                               void* user) {
    auto& t = *static_cast<transfer*>(user);
    const std::string_view line(data, size * n);
    if (iequals_prefix(line, "HTTP/")) {
      // A new response (after a redirect or an interim 1xx): start over.
      t.status = 0;
      t.range.reset();
      const std::size_t sp = line.find(' ');
      std::uint64_t code = 0;
      if (sp != std::string_view::npos &&
          parse_u64(line.substr(sp + 1, 3), code))
        t.status = static_cast<long>(code);
    } else if (iequals_prefix(line, "content-range:")) {
      t.range = parse_content_range(line.substr(14));
    }
    return size * n;
  }

  static std::size_t on_body(char* data, std::size_t size, std::size_t n,
                             void* user) {
    auto& t = *static_cast<transfer*>(user);
    // No exception may unwind through libcurl's C frames: keep it for later.
    try {
      return t.self->body(t, data, size * n);
    } catch (...) {
      t.exception = std::current_exception();
      return 0;
    }
  }

  std::size_t body(transfer& t, char* data, std::size_t bytes) {
    if (!t.checked) {
      if (auto ok = check_response(t); !ok) {
        t.failure = ok.error();
        return 0;
      }
    }
    if (bytes > t.expected_bytes - t.received) {
      t.failure = make_error(errc::data_loss,
                             url_ + ": the server sent more than the " +
                                 std::to_string(t.expected_bytes) +
                                 " bytes of its range");
      return 0;
    }
    t.received += bytes;
    if (auto ok = (*t.sink)(std::as_bytes(std::span(data, bytes))); !ok) {
      t.failure = ok.error();
      return 0;
    }
    return bytes;
  }

  /// Validates the status and Content-Range of the final response.
  expected<void> check_response(transfer& t) {
    t.checked = true;
    if (t.status == 200)
      return make_error(errc::invalid_argument,
                        url_ +
                            ": the server ignored the Range request "
                            "(HTTP 200 instead of 206 Partial Content); "
                            "fetching needs a server that supports range "
                            "requests");
    if (t.status != 206)
      return make_error(errc::unavailable,
                        url_ + ": unexpected HTTP " + std::to_string(t.status) +
                            " to a Range request (expected 206)");
    if (!t.range)
      return make_error(errc::data_loss, url_ +
                                             ": a 206 response without a valid "
                                             "Content-Range header");
    const content_range& r = *t.range;
    const std::uint64_t len = r.last - r.first + 1;
    const bool ok =
        t.suffix ? (r.last + 1 == r.total && len == std::min(t.count, r.total))
                 : (r.first == t.first && len == t.count);
    if (!ok) {
      const std::string asked =
          t.suffix ? "the last " + std::to_string(t.count) + " bytes"
                   : "bytes " + std::to_string(t.first) + "-" +
                         std::to_string(t.first + t.count - 1);
      return make_error(errc::data_loss, url_ + ": asked for " + asked +
                                             ", the server sent " +
                                             std::to_string(r.first) + "-" +
                                             std::to_string(r.last) + "/" +
                                             std::to_string(r.total));
    }
    if (total_ && *total_ != r.total)
      return make_error(errc::aborted,
                        url_ +
                            ": the archive changed during the fetch (it "
                            "had " +
                            std::to_string(*total_) + " bytes, now " +
                            std::to_string(r.total) + ")");
    total_ = r.total;
    t.expected_bytes = len;
    return {};
  }

  expected<content_range> run(std::uint64_t first, std::uint64_t count,
                              bool suffix, const body_sink& sink) {
    if (curl_ == nullptr)
      return make_error(errc::internal, url_ + ": libcurl failed to start");
    if (count == 0)
      return make_error(errc::internal, url_ + ": empty range requested");
    transfer t;
    t.self = this;
    t.sink = &sink;
    t.first = first;
    t.count = count;
    t.suffix = suffix;
    const std::string range = suffix ? "-" + std::to_string(count)
                                     : std::to_string(first) + "-" +
                                           std::to_string(first + count - 1);
    errbuf_[0] = '\0';
    CURL* c = curl_;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, max_redirects);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, connect_timeout_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, low_speed_limit_bytes_per_s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, low_speed_time_s);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "emnist-data-fetch/1");
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf_);
    curl_easy_setopt(c, CURLOPT_RANGE, range.c_str());
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &range_client::on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &range_client::on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    const CURLcode rc = curl_easy_perform(c);
    if (t.exception) std::rethrow_exception(t.exception);  // to fetch_split
    if (t.failure) return *t.failure;
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
      long status = 0;
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
      return http_status_error(url_, status);
    }
    if (rc != CURLE_OK) {
      const bool bad_url =
          rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT;
      return make_error(bad_url ? errc::invalid_argument : errc::unavailable,
                        url_ + ": " +
                            (errbuf_[0] != '\0' ? std::string(errbuf_)
                                                : curl_easy_strerror(rc)));
    }
    if (!t.checked) {  // no body at all
      if (auto ok = check_response(t); !ok) return ok.error();
    }
    if (t.received != t.expected_bytes)
      return make_error(errc::unavailable,
                        url_ + ": the transfer ended after " +
                            std::to_string(t.received) + " of " +
                            std::to_string(t.expected_bytes) + " bytes");
    return *t.range;
  }

  std::string url_;
  CURL* curl_ = nullptr;
  std::optional<std::uint64_t> total_;
  char errbuf_[CURL_ERROR_SIZE] = {};  ///< libcurl's message for a failure
};

/// Fetches a range into memory.
expected<std::vector<std::byte>> get_bytes(range_client& http,
                                           std::uint64_t first,
                                           std::uint64_t count) {
  std::vector<std::byte> out;
  out.reserve(static_cast<std::size_t>(count));
  auto r = http.get(first, count, [&](std::span<const std::byte> b) {
    out.insert(out.end(), b.begin(), b.end());
    return expected<void>{};
  });
  if (!r) return r.error();
  return out;
}

// --- progress bar -----------------------------------------------------------

/// Bytes done / total, percent and MB/s on stderr: redrawn in place (at most
/// every 100 ms) on a terminal, else one line per 10%.
class progress_bar {
 public:
  progress_bar(bool enabled, std::uint64_t total)
      : enabled_(enabled),
        tty_(enabled && ::isatty(STDERR_FILENO) == 1),
        total_(total),
        start_(std::chrono::steady_clock::now()) {}

  void set_label(std::string label) { label_ = std::move(label); }

  void add(std::uint64_t bytes) {
    done_ += bytes;
    if (!enabled_) return;
    const auto now = std::chrono::steady_clock::now();
    if (tty_) {
      if (now - last_draw_ >= tty_redraw_interval || done_ == total_) {
        last_draw_ = now;
        draw(now);
      }
    } else {
      const int decile =
          total_ == 0 ? 10 : static_cast<int>(done_ * 10 / total_);
      if (decile > last_decile_) {
        last_decile_ = decile;
        draw(now);
      }
    }
  }

  /// Ends the bar (a newline on a terminal).
  void finish() {
    if (!enabled_ || finished_) return;
    finished_ = true;
    if (tty_) {
      draw(std::chrono::steady_clock::now());
      std::fputc('\n', stderr);
    }
  }

 private:
  void draw(std::chrono::steady_clock::time_point now) {
    const double seconds = std::chrono::duration<double>(now - start_).count();
    const double mb = static_cast<double>(done_) / 1e6;
    const double rate = seconds > 0 ? mb / seconds : 0.0;
    const int percent =
        total_ == 0 ? 100 : static_cast<int>(done_ * 100 / total_);
    std::fprintf(stderr, "%sfetch %7.1f / %.1f MB %3d%% %6.1f MB/s  %s%s",
                 tty_ ? "\r" : "", mb, static_cast<double>(total_) / 1e6,
                 percent, rate, label_.c_str(), tty_ ? "\x1b[K" : "\n");
  }

  bool enabled_;
  bool tty_;
  bool finished_ = false;
  std::uint64_t total_;
  std::uint64_t done_ = 0;
  int last_decile_ = -1;
  std::string label_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_{};
};

// --- the part file ----------------------------------------------------------

/// DIR/.<name>.part, renamed to DIR/<name> by commit(); removed by the
/// destructor unless committed.
class part_file {
 public:
  explicit part_file(const fs::path& final_path)
      : final_(final_path),
        part_(final_path.parent_path() /
              ("." + final_path.filename().string() + ".part")) {}
  ~part_file() {
    if (fd_ >= 0) ::close(fd_);
    if (opened_ && !committed_) ::unlink(part_.c_str());
  }
  part_file(const part_file&) = delete;
  part_file& operator=(const part_file&) = delete;

  expected<void> open() {
    fd_ = ::open(part_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) return errno_error(part_, "cannot create", errno);
    opened_ = true;
    return {};
  }

  expected<void> write(const void* data, std::size_t size) {
    const auto* p = static_cast<const char*>(data);
    while (size > 0) {
      const ssize_t n = ::write(fd_, p, size);
      if (n < 0) {
        if (errno == EINTR) continue;
        return errno_error(part_, "write failed", errno);
      }
      p += n;
      size -= static_cast<std::size_t>(n);
    }
    return {};
  }

  /// fsync, close, rename over the final name, fsync the folder.
  expected<void> commit() {
    if (::fsync(fd_) != 0) return errno_error(part_, "fsync failed", errno);
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return errno_error(part_, "close failed", errno);
    if (::rename(part_.c_str(), final_.c_str()) != 0)
      return errno_error(final_, "cannot rename " + part_.string() + " to it",
                         errno);
    committed_ = true;
    // Make the rename durable; best effort (not every file system allows it).
    const fs::path dir =
        final_.parent_path().empty() ? fs::path(".") : final_.parent_path();
    const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)::fsync(dfd);
      ::close(dfd);
    }
    return {};
  }

 private:
  fs::path final_;
  fs::path part_;
  int fd_ = -1;
  bool opened_ = false;
  bool committed_ = false;
};

// --- one member: inflate, check, write --------------------------------------

/// Turns a member's compressed bytes into the file: inflates (method 8) or
/// copies (method 0), computes CRC-32 and sha256, writes to the part file,
/// and checks it all in finish().
class member_writer {
 public:
  member_writer(const zip_entry& entry, const file_checksum* sum,
                part_file& out, std::string prefix)
      : entry_(entry), sum_(sum), out_(out), prefix_(std::move(prefix)) {}
  ~member_writer() {
    if (inflating_) inflateEnd(&z_);
  }
  member_writer(const member_writer&) = delete;
  member_writer& operator=(const member_writer&) = delete;

  expected<void> start() {
    if (entry_.method != zip_method_deflated) return {};
    z_ = z_stream{};
    if (inflateInit2(&z_, -MAX_WBITS) != Z_OK)
      return make_error(errc::internal, prefix_ + "zlib inflateInit2 failed");
    inflating_ = true;
    buf_.resize(inflate_chunk_bytes);
    return {};
  }

  expected<void> consume(std::span<const std::byte> in) {
    if (entry_.method == zip_method_stored) {
      compressed_in_ += in.size();
      return emit(reinterpret_cast<const unsigned char*>(in.data()), in.size());
    }
    while (!in.empty()) {
      if (stream_end_)
        return make_error(errc::data_loss,
                          prefix_ +
                              "data continues after the end of the "
                              "deflate stream, at compressed byte " +
                              std::to_string(compressed_in_));
      const std::size_t piece = std::min<std::size_t>(in.size(), UINT_MAX);
      z_.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data()));
      z_.avail_in = static_cast<uInt>(piece);
      do {
        z_.next_out = buf_.data();
        z_.avail_out = static_cast<uInt>(buf_.size());
        const std::uint64_t before = z_.avail_in;
        const int ret = inflate(&z_, Z_NO_FLUSH);
        compressed_in_ += before - z_.avail_in;
        if (auto ok = emit(buf_.data(), buf_.size() - z_.avail_out); !ok)
          return ok;
        if (ret == Z_STREAM_END) {
          stream_end_ = true;
          break;
        }
        if (ret == Z_BUF_ERROR && z_.avail_in == 0) break;  // needs input
        if (ret != Z_OK)
          return make_error(
              errc::data_loss,
              prefix_ + "corrupt deflate data near compressed byte " +
                  std::to_string(compressed_in_) + ": " +
                  (z_.msg != nullptr ? z_.msg
                                     : "inflate error " + std::to_string(ret)));
      } while (z_.avail_in > 0 || z_.avail_out == 0);
      const std::size_t used = piece - z_.avail_in;
      in = in.subspan(used);
      if (stream_end_ && !in.empty())
        return make_error(errc::data_loss,
                          prefix_ + std::to_string(in.size()) +
                              " bytes follow the end of the deflate stream, "
                              "at compressed byte " +
                              std::to_string(compressed_in_));
    }
    return {};
  }

  /// Checks completeness, size, CRC-32 and (if known) sha256.
  expected<void> finish() {
    if (entry_.method == zip_method_deflated && !stream_end_)
      return make_error(errc::data_loss,
                        prefix_ +
                            "the deflate stream is truncated: no end "
                            "after " +
                            std::to_string(compressed_in_) +
                            " compressed bytes");
    if (written_ != entry_.uncompressed_size)
      return make_error(errc::data_loss,
                        prefix_ + "inflated to " + std::to_string(written_) +
                            " bytes, the central directory says " +
                            std::to_string(entry_.uncompressed_size));
    if (crc_ != entry_.crc32)
      return make_error(errc::data_loss,
                        prefix_ + "CRC-32 mismatch: expected " +
                            hex32(entry_.crc32) + ", got " + hex32(crc_));
    if (sum_ != nullptr) {
      auto got = sha_.hex_digest();
      if (!got)
        return make_error(got.error().code, prefix_ + got.error().message);
      if (*got != sum_->sha256_hex)
        return make_error(errc::data_loss,
                          prefix_ + "sha256 mismatch: expected " +
                              sum_->sha256_hex + ", got " + *got);
    }
    return {};
  }

 private:
  expected<void> emit(const unsigned char* data, std::size_t n) {
    if (n == 0) return {};
    if (n > entry_.uncompressed_size - written_)
      return make_error(errc::data_loss,
                        prefix_ + "inflates to more than the " +
                            std::to_string(entry_.uncompressed_size) +
                            " bytes the central directory says");
    written_ += n;
    crc_ = static_cast<std::uint32_t>(crc32_z(crc_, data, n));
    if (sum_ != nullptr) sha_.update(data, n);
    return out_.write(data, n);
  }

  const zip_entry& entry_;
  const file_checksum* sum_;
  part_file& out_;
  std::string prefix_;
  z_stream z_{};
  bool inflating_ = false;
  bool stream_end_ = false;
  std::vector<unsigned char> buf_;
  std::uint64_t compressed_in_ = 0;
  std::uint64_t written_ = 0;
  std::uint32_t crc_ = 0;
  sha256 sha_;
};

// --- fetch_split ------------------------------------------------------------

/// A file of the split and what we know about it.
struct wanted_file {
  std::string name;                    ///< base name
  fs::path dest;                       ///< DIR/name
  const file_checksum* sum = nullptr;  ///< from the table, if known
  const zip_entry* entry = nullptr;    ///< in the archive, once read
  bool exists = false;                 ///< dest exists (not yet verified)
  bool present = false;                ///< dest verified
};

expected<std::uint32_t> crc32_file(const fs::path& file) {
  uLong crc = crc32_z(0, nullptr, 0);
  auto ok = read_file_chunks(file, [&](const unsigned char* p, std::size_t n) {
    crc = crc32_z(crc, p, n);
  });
  if (!ok) return ok.error();
  return static_cast<std::uint32_t>(crc);
}

/// Whether dest holds `size` bytes (after checking it is a regular file).
expected<bool> has_size(const fs::path& dest, std::uint64_t size) {
  std::error_code ec;
  const std::uintmax_t n = fs::file_size(dest, ec);
  if (ec)
    return make_error(
        errc::invalid_argument,
        dest.string() + ": cannot read its size: " + ec.message());
  return n == size;
}

/// Verifies an existing file whose sha256 and size are known.
expected<bool> verify_known(const wanted_file& f) {
  auto size_ok = has_size(f.dest, f.sum->bytes);
  if (!size_ok || !*size_ok) return size_ok;
  auto sum = sha256_file(f.dest);
  if (!sum) return sum.error();
  return *sum == f.sum->sha256_hex;
}

/// Verifies an existing file against the archive's size and CRC-32.
expected<bool> verify_by_crc(const wanted_file& f) {
  auto size_ok = has_size(f.dest, f.entry->uncompressed_size);
  if (!size_ok || !*size_ok) return size_ok;
  auto crc = crc32_file(f.dest);
  if (!crc) return crc.error();
  return *crc == f.entry->crc32;
}

/// The entry whose base name is `name` ("gzip/<name>" in the official zip).
expected<const zip_entry*> find_member(const std::vector<zip_entry>& entries,
                                       const std::string& name,
                                       const std::string& archive) {
  const zip_entry* found = nullptr;
  for (const zip_entry& e : entries) {
    const std::size_t slash = e.name.rfind('/');
    const std::string_view base =
        slash == std::string::npos ? std::string_view(e.name)
                                   : std::string_view(e.name).substr(slash + 1);
    if (base != name) continue;
    if (found != nullptr)
      return make_error(errc::data_loss, archive + ": member " + name +
                                             " is in the archive twice (" +
                                             found->name + ", " + e.name + ")");
    found = &e;
  }
  if (found == nullptr)
    return make_error(errc::not_found, archive + ": member gzip/" + name +
                                           " not in archive (no entry named " +
                                           name + " in any folder among its " +
                                           std::to_string(entries.size()) +
                                           " entries)");
  return found;
}

/// Refuses members we cannot or should not extract, before downloading any.
expected<void> check_member(const wanted_file& f, const std::string& archive) {
  const zip_entry& e = *f.entry;
  const std::string prefix = archive + " member " + e.name + ": ";
  if (e.encrypted())
    return make_error(errc::invalid_argument, prefix + "is encrypted");
  if (e.method != zip_method_deflated && e.method != zip_method_stored)
    return make_error(errc::invalid_argument,
                      prefix + "compression method " +
                          std::to_string(e.method) +
                          " is not supported (only 0, stored, and 8, "
                          "deflated)");
  if (e.method == zip_method_stored && e.compressed_size != e.uncompressed_size)
    return make_error(errc::data_loss, prefix +
                                           "stored, but its compressed size " +
                                           std::to_string(e.compressed_size) +
                                           " differs from its size " +
                                           std::to_string(e.uncompressed_size));
  if (f.sum != nullptr && e.uncompressed_size != f.sum->bytes)
    return make_error(errc::data_loss,
                      prefix + "has " + std::to_string(e.uncompressed_size) +
                          " bytes, expected " + std::to_string(f.sum->bytes));
  return {};
}

/// Downloads one member into f.dest, atomically.
expected<void> download_member(range_client& http, const wanted_file& f,
                               const zip_eocd& eocd, const std::string& archive,
                               progress_bar& progress) {
  const zip_entry& e = *f.entry;
  const std::string prefix = archive + " member " + e.name + ": ";
  auto header =
      get_bytes(http, e.local_header_offset, zip_local_header_bytes(e));
  if (!header) return header.error();
  auto data_offset =
      parse_zip_local_header(*header, e, eocd.cd_offset, archive);
  if (!data_offset) return data_offset.error();

  part_file out(f.dest);
  if (auto ok = out.open(); !ok) return ok;
  member_writer writer(e, f.sum, out, prefix);
  if (auto ok = writer.start(); !ok) return ok;
  progress.set_label(f.name);
  if (e.compressed_size > 0) {
    auto r = http.get(*data_offset, e.compressed_size,
                      [&](std::span<const std::byte> b) {
                        progress.add(b.size());
                        return writer.consume(b);
                      });
    if (!r) return r.error();
  }
  if (auto ok = writer.finish(); !ok) return ok;
  return out.commit();
}

expected<fetch_result> fetch_split_impl(const fetch_options& opts) {
  if (auto ok = check_split(opts.split); !ok) return ok.error();
  if (opts.dir.empty())
    return make_error(errc::invalid_argument,
                      "data fetch: no destination folder given");
  if (!iequals_prefix(opts.url, "http://") &&
      !iequals_prefix(opts.url, "https://"))
    return make_error(errc::invalid_argument,
                      "data fetch: archive URL '" + opts.url +
                          "' does not start with http:// or https://");
  std::error_code ec;
  fs::create_directories(opts.dir, ec);
  if (ec)
    return make_error(
        errc::invalid_argument,
        opts.dir.string() + ": cannot create folder: " + ec.message());
  const checksum_table& table =
      opts.checksums != nullptr ? *opts.checksums : official_checksums();

  // 1. What is already there (files with known sums need no network).
  std::vector<wanted_file> files;
  bool need_archive = false;
  for (std::string& name : split_files(opts.split)) {
    wanted_file f;
    f.dest = opts.dir / name;
    if (auto it = table.find(name); it != table.end()) f.sum = &it->second;
    f.name = std::move(name);
    const fs::file_status st = fs::status(f.dest, ec);
    if (ec && ec != std::errc::no_such_file_or_directory)
      return make_error(errc::invalid_argument,
                        f.dest.string() + ": " + ec.message());
    f.exists = fs::exists(st);
    if (f.exists && !fs::is_regular_file(st))
      return make_error(errc::invalid_argument,
                        f.dest.string() + ": exists and is not a regular file");
    if (f.exists && f.sum != nullptr) {
      auto ok = verify_known(f);
      if (!ok) return ok.error();
      f.present = *ok;
    }
    need_archive = need_archive || !f.present;
    files.push_back(std::move(f));
  }

  fetch_result result;
  if (need_archive) {
    // 2. The archive's directory.
    const std::string archive = archive_label(opts.url);
    range_client http(opts.url);
    std::vector<std::byte> tail;
    auto tail_range = http.get_suffix(
        zip_eocd_search_bytes, [&](std::span<const std::byte> b) {
          tail.insert(tail.end(), b.begin(), b.end());
          return expected<void>{};
        });
    if (!tail_range) return tail_range.error();
    const std::uint64_t tail_offset = tail_range->first;
    auto eocd = find_zip_eocd(tail, tail_offset, archive);
    if (!eocd) return eocd.error();
    if (eocd->cd_size > max_central_directory_bytes)
      return make_error(errc::data_loss, archive + ": central directory of " +
                                             std::to_string(eocd->cd_size) +
                                             " bytes at offset " +
                                             std::to_string(eocd->cd_offset) +
                                             " is implausibly large");
    std::vector<std::byte> cd_fetched;
    std::span<const std::byte> cd;
    if (eocd->cd_offset >= tail_offset) {  // already in the tail
      cd = std::span<const std::byte>(tail).subspan(
          static_cast<std::size_t>(eocd->cd_offset - tail_offset),
          static_cast<std::size_t>(eocd->cd_size));
    } else if (eocd->cd_size > 0) {
      auto got = get_bytes(http, eocd->cd_offset, eocd->cd_size);
      if (!got) return got.error();
      cd_fetched = std::move(*got);
      cd = cd_fetched;
    }
    auto entries = parse_zip_central_directory(cd, *eocd, archive);
    if (!entries) return entries.error();

    // 3. Find and check every member before downloading any.
    std::uint64_t to_download = 0;
    for (wanted_file& f : files) {
      auto e = find_member(*entries, f.name, archive);
      if (!e) return e.error();
      f.entry = *e;
      if (auto ok = check_member(f, archive); !ok) return ok.error();
      if (f.exists && f.sum == nullptr) {
        auto ok = verify_by_crc(f);
        if (!ok) return ok.error();
        f.present = *ok;
      }
      if (!f.present) to_download += f.entry->compressed_size;
    }

    // 4. Download what is missing.
    progress_bar progress(opts.progress && to_download > 0, to_download);
    for (const wanted_file& f : files) {
      if (f.present) continue;
      if (auto ok = download_member(http, f, *eocd, archive, progress); !ok) {
        progress.finish();
        return ok.error();
      }
      result.downloaded.push_back(f.name);
    }
    progress.finish();
  }
  for (const wanted_file& f : files)
    if (f.present) result.present.push_back(f.name);
  return result;
}

}  // namespace

expected<fetch_result> fetch_split(const fetch_options& opts) {
  try {
    return fetch_split_impl(opts);
  } catch (const std::bad_alloc&) {
    return make_error(errc::internal, "data fetch: out of memory");
  } catch (const std::exception& e) {
    return make_error(errc::internal, std::string("data fetch: ") + e.what());
  }
}

}  // namespace emnist
