// Finding, checking and writing cache files of inflated IDX data.
#include "model/idx_cache.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "model/idx_cache_format.hpp"
#include "model/idx_reader.hpp"
#include "model/mapped_file.hpp"

namespace emnist {

struct idx_bytes::state {
  std::span<const std::uint8_t> bytes;
  std::shared_ptr<const void> owner;
  idx_origin origin = idx_origin::inflated;
  std::string note;
  std::filesystem::path cache_file;
  std::uint32_t chunk_bytes = 0;
  std::vector<std::uint32_t> chunk_crcs;  ///< empty: nothing to check
  std::vector<char> checked;              ///< per chunk
  unsigned threads = 1;
};

std::span<const std::uint8_t> idx_bytes::bytes() const {
  return s_->bytes;
}
std::shared_ptr<const void> idx_bytes::owner() const {
  return s_->owner;
}
idx_origin idx_bytes::origin() const {
  return s_->origin;
}
const std::string& idx_bytes::note() const {
  return s_->note;
}

expected<void> idx_bytes::verify(std::size_t begin, std::size_t end) {
  auto& s = *s_;
  end = std::min(end, s.bytes.size());
  if (s.chunk_crcs.empty() || begin >= end) return {};
  std::vector<std::size_t> todo;
  for (std::size_t c = begin / s.chunk_bytes; c * s.chunk_bytes < end; ++c) {
    if (!s.checked[c]) todo.push_back(c);
  }
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> bad{SIZE_MAX};
  auto work = [&] {
    for (std::size_t k; (k = next.fetch_add(1)) < todo.size();) {
      const std::size_t c = todo[k];
      const std::size_t at = c * s.chunk_bytes;
      const auto piece = s.bytes.subspan(
          at, std::min<std::size_t>(s.chunk_bytes, s.bytes.size() - at));
      if (crc32_of(piece) != s.chunk_crcs[c]) {
        bad.store(c);
      }
    }
  };
  std::vector<std::thread> helpers;
  const std::size_t extra =
      std::min<std::size_t>(s.threads, todo.size()) > 0
          ? std::min<std::size_t>(s.threads, todo.size()) - 1
          : 0;
  for (std::size_t i = 0; i < extra; ++i) {
    try {
      helpers.emplace_back(work);
    } catch (const std::system_error&) {
      break;  // fewer threads: the work is shared all the same
    }
  }
  work();
  for (auto& t : helpers) t.join();
  if (const std::size_t c = bad.load(); c != SIZE_MAX) {
    return make_error(errc::data_loss,
                      s.cache_file.string() + ": chunk " + std::to_string(c) +
                          " (payload bytes " +
                          std::to_string(c * s.chunk_bytes) + " to " +
                          std::to_string(std::min<std::size_t>(
                              (c + 1) * s.chunk_bytes, s.bytes.size())) +
                          "): checksum mismatch");
  }
  for (const auto c : todo) s.checked[c] = 1;
  return {};
}

namespace {

unsigned thread_count(unsigned asked) {
  if (asked > 0) return asked;
  return std::max(1u, std::thread::hardware_concurrency());
}

std::string errno_text(int e) {
  return std::strerror(e);
}

idx_bytes make_bytes(std::span<const std::uint8_t> bytes,
                     std::shared_ptr<const void> owner, idx_origin origin,
                     std::string note) {
  auto s = std::make_shared<idx_bytes::state>();
  s->bytes = bytes;
  s->owner = std::move(owner);
  s->origin = origin;
  s->note = std::move(note);
  return idx_bytes(std::move(s));
}

/// A folder of ours that nobody else may write: the condition for trusting
/// files in a shared place such as /tmp.
bool private_folder(const std::filesystem::path& dir) {
  struct stat st {};
  return ::lstat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
         st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
}

/// Whether files in `d` may be read as cache files.
bool readable_here(const idx_cache_dir& d) {
  return d.how != idx_cache_dir::kind::private_tmp || private_folder(d.path);
}

/// Makes `d` when its rules allow; an empty string when it is ready to
/// write into, else why not.
std::string make_ready(const idx_cache_dir& d) {
  std::error_code ec;
  switch (d.how) {
    case idx_cache_dir::kind::chosen:
      std::filesystem::create_directories(d.path, ec);
      if (ec) return d.path.string() + ": " + ec.message();
      return {};
    case idx_cache_dir::kind::beside_data: {
      struct stat st {};
      if (::stat(d.path.c_str(), &st) == 0) {
        // Root may write anywhere; a folder without write bits is still
        // meant to be left alone.
        if ((st.st_mode & 0222) == 0) return d.path.string() + ": read-only";
        return {};
      }
      const auto parent = d.path.parent_path();
      if (::stat(parent.c_str(), &st) != 0 || (st.st_mode & 0222) == 0) {
        return parent.string() + ": read-only data folder";
      }
      if (::mkdir(d.path.c_str(), 0755) != 0 && errno != EEXIST) {
        return d.path.string() + ": " + errno_text(errno);
      }
      return {};
    }
    case idx_cache_dir::kind::private_tmp:
      if (::mkdir(d.path.c_str(), 0700) != 0 && errno != EEXIST) {
        return d.path.string() + ": " + errno_text(errno);
      }
      if (!private_folder(d.path)) {
        return d.path.string() +
               ": not a private folder of this user (left alone)";
      }
      return {};
  }
  return "unknown cache folder kind";
}

/// A cache file for `stamp`, mapped, its header checked; null when there
/// is none or it does not stand for the source (any doubt is a miss).
std::shared_ptr<idx_bytes::state> find_cached(const std::filesystem::path& p,
                                              const gzip_stamp& stamp,
                                              unsigned threads) {
  auto m = mapped_file::open(p);
  if (!m) return nullptr;
  auto h = decode_cache_header(m->bytes(), p.string());
  if (!h || !(h->source == stamp) ||
      (h->payload_bytes & 0xffffffffu) != stamp.isize) {
    return nullptr;
  }
  auto owner = std::make_shared<mapped_file>(std::move(*m));
  auto s = std::make_shared<idx_bytes::state>();
  s->bytes = owner->bytes().subspan(h->payload_offset(), h->payload_bytes);
  s->owner = owner;
  s->origin = idx_origin::cache;
  s->note = "cache " + p.string();
  s->cache_file = p;
  s->chunk_bytes = h->chunk_bytes;
  s->chunk_crcs = std::move(h->chunk_crcs);
  s->checked.assign(s->chunk_crcs.size(), 0);
  s->threads = threads;
  return s;
}

/// An exclusive flock(2) on `<cache file>.lock`, released on destruction.
/// Not having it (a timeout, no lock file) is allowed: writers never
/// clash (temporary names, rename), they only duplicate work.
class file_lock {
 public:
  file_lock(const std::filesystem::path& path, std::chrono::milliseconds wait)
      : fd_(::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644)) {
    if (fd_ < 0) return;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    while (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      if ((errno != EWOULDBLOCK && errno != EINTR) ||
          std::chrono::steady_clock::now() >= deadline) {
        ::close(fd_);
        fd_ = -1;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  file_lock(const file_lock&) = delete;
  file_lock& operator=(const file_lock&) = delete;
  ~file_lock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }

 private:
  int fd_;
};

/// What writing a cache file came to.
struct written {
  std::shared_ptr<idx_bytes::state> bytes;  ///< set when the data is ready
  std::string why_not;      ///< why there is no cache file (when bytes is unset
                            ///< too: the folder is unusable, try the next)
  bool source_bad = false;  ///< the source does not inflate: stop trying
};

/// `<final>.tmp.<pid>.<n>`: unique among this machine's processes.
std::filesystem::path temporary_name(const std::filesystem::path& final_path) {
  static std::atomic<unsigned> counter{0};
  auto temp = final_path;
  temp += ".tmp." + std::to_string(::getpid()) + "." +
          std::to_string(counter.fetch_add(1));
  return temp;
}

/// A new file in `dir` with no name (O_TMPFILE: nothing is left behind if
/// the process dies while writing), or under a temporary name where the
/// file system has no such thing. `temp` receives that name.
int create_temporary(const std::filesystem::path& dir,
                     const std::filesystem::path& final_path,
                     std::filesystem::path& temp) {
  int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
  if (fd >= 0) return fd;
  temp = temporary_name(final_path);
  return ::open(temp.c_str(), O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0644);
}

/// Inflates `gz` into a new cache file `final_path` (see written).
written write_cache(std::span<const std::uint8_t> gz, const gzip_stamp& stamp,
                    std::size_t payload_bytes,
                    const std::filesystem::path& final_path,
                    std::uint32_t chunk_bytes, unsigned threads) {
  written out;
  cache_header h;
  h.chunk_bytes = chunk_bytes;
  h.source = stamp;
  h.payload_bytes = payload_bytes;
  h.chunk_crcs.resize(chunk_count(payload_bytes, h.chunk_bytes));
  const std::size_t offset = h.payload_offset();
  const std::size_t total = offset + payload_bytes;

  std::filesystem::path temp;  // empty while the file has no name
  const int fd = create_temporary(final_path.parent_path(), final_path, temp);
  if (fd < 0) {
    out.why_not = final_path.parent_path().string() + ": " + errno_text(errno);
    return out;
  }
  auto discard = [&](std::string why) {
    ::close(fd);
    if (!temp.empty()) ::unlink(temp.c_str());
    out.why_not = std::move(why);
    return out;
  };
  // Reserved first: writing through a mapping onto a full file system
  // would raise SIGBUS instead of an error.
  if (const int e = ::posix_fallocate(fd, 0, static_cast<off_t>(total));
      e != 0) {
    return discard(final_path.string() + ": " + errno_text(e));
  }
  auto map = mapped_file::map_writable(fd, total, final_path);
  if (!map) return discard(map.error().message);
  const std::span<std::uint8_t> payload(map->data() + offset, payload_bytes);
  if (!inflate_gzip_exact(gz, payload)) {
    out.source_bad = true;
    return discard("the source does not inflate");
  }
  h.chunk_crcs = chunk_crcs(payload, h.chunk_bytes, threads);
  const auto head = encode_cache_header(h);
  std::memcpy(map->data(), head.data(), head.size());

  // Into place. No fsync: a file torn by a crash fails its checksums and
  // is written again, and a reader never sees one half written.
  std::string placed;
  if (temp.empty()) {
    temp = temporary_name(final_path);
    const std::string self = "/proc/self/fd/" + std::to_string(fd);
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, temp.c_str(),
                 AT_SYMLINK_FOLLOW) != 0) {
      placed = final_path.string() + ": cannot link: " + errno_text(errno);
      temp.clear();
    }
  }
  if (placed.empty() && ::rename(temp.c_str(), final_path.c_str()) != 0) {
    placed = final_path.string() + ": cannot rename: " + errno_text(errno);
    ::unlink(temp.c_str());
  }
  ::close(fd);  // the mapping keeps the file

  auto owner = std::make_shared<mapped_file>(std::move(*map));
  out.bytes = std::make_shared<idx_bytes::state>();
  out.bytes->bytes =
      std::span<const std::uint8_t>(owner->data() + offset, payload_bytes);
  out.bytes->owner = owner;
  if (placed.empty()) {
    out.bytes->origin = idx_origin::inflated_cached;
    out.bytes->note = "inflated, cached as " + final_path.string();
  } else {
    out.bytes->origin = idx_origin::inflated;
    out.bytes->note = "inflated (no cache: " + placed + ")";
  }
  return out;
}

/// Inflates into memory: libdeflate when the trailer's size holds, else
/// zlib, whose errors say where the stream breaks.
expected<idx_bytes> inflate_in_memory(const mapped_bytes& gz,
                                      const std::filesystem::path& file,
                                      std::string note) {
  if (const auto size = gzip_inflated_size(gz.bytes); size) {
    if (auto mem = mapped_file::anonymous(*size); mem) {
      auto owner = std::make_shared<mapped_file>(std::move(*mem));
      const std::span<std::uint8_t> out(owner->data(), *size);
      if (inflate_gzip_exact(gz.bytes, out)) {
        return make_bytes(owner->bytes(), owner, idx_origin::inflated,
                          std::move(note));
      }
    }
  }
  auto v = decode_maybe_gzip(gz.bytes, file.string());
  if (!v) return v.error();
  auto owner = std::make_shared<const std::vector<std::uint8_t>>(std::move(*v));
  return make_bytes(std::span<const std::uint8_t>(*owner), owner,
                    idx_origin::inflated, std::move(note));
}

}  // namespace

std::vector<idx_cache_dir> idx_cache_dirs(
    const std::string& setting, const std::filesystem::path& data_dir) {
  if (setting == "off") return {};
  if (!setting.empty()) return {{setting, idx_cache_dir::kind::chosen}};
  const char* tmp = std::getenv("TMPDIR");
  const std::filesystem::path tmp_dir =
      tmp != nullptr && *tmp == '/' ? tmp : "/tmp";
  return {{data_dir / ".cache", idx_cache_dir::kind::beside_data},
          {tmp_dir / ("emnist-cache-" + std::to_string(::geteuid())),
           idx_cache_dir::kind::private_tmp}};
}

std::string idx_cache_name(const std::filesystem::path& source,
                           std::uint32_t crc32) {
  std::string name = source.filename().string();
  if (name.size() > 3 && name.ends_with(".gz")) name.resize(name.size() - 3);
  char hex[16];
  std::snprintf(hex, sizeof hex, "%08x", crc32);
  return name + "." + hex + ".idx";
}

expected<idx_bytes> open_idx_bytes(const std::filesystem::path& file,
                                   const idx_source_options& o) {
  auto src = read_file_bytes(file);
  if (!src) return src.error();
  const auto& gz = src->bytes;
  if (gz.size() < 2 || gz[0] != 0x1f || gz[1] != 0x8b) {
    return make_bytes(gz, src->owner, idx_origin::raw_file, "raw file");
  }
  const auto size = gzip_inflated_size(gz);
  if (!size || o.cache_dirs.empty()) {
    return inflate_in_memory(*src, file,
                             o.cache_dirs.empty()
                                 ? "inflated (no cache: data.cache_dir off)"
                                 : "inflated (no cache: size unknown)");
  }
  const auto stamp = gzip_stamp_of(gz);
  const auto name = idx_cache_name(file, stamp.crc32);
  const unsigned threads = thread_count(o.threads);

  if (!o.ignore_cache) {
    for (const auto& d : o.cache_dirs) {
      if (!readable_here(d)) continue;
      if (auto hit = find_cached(d.path / name, stamp, threads)) {
        return idx_bytes(std::move(hit));
      }
    }
  }
  std::string why_not;
  for (const auto& d : o.cache_dirs) {
    if (auto why = make_ready(d); !why.empty()) {
      why_not = why;
      continue;
    }
    const auto final_path = d.path / name;
    const file_lock lock(final_path.string() + ".lock", o.lock_wait);
    // Another process may have written it while this one waited.
    if (!o.ignore_cache) {
      if (auto hit = find_cached(final_path, stamp, threads)) {
        return idx_bytes(std::move(hit));
      }
    }
    auto w = write_cache(gz, stamp, *size, final_path,
                         std::max(o.chunk_bytes, 4096u), threads);
    if (w.bytes) return idx_bytes(std::move(w.bytes));
    why_not = w.why_not;
    if (w.source_bad) break;
  }
  return inflate_in_memory(*src, file, "inflated (no cache: " + why_not + ")");
}

}  // namespace emnist
