// The bytes of one IDX file of the EMNIST release, as fast as they can be
// had: a raw file is mapped; a gzip file is inflated once (libdeflate)
// into a cache file that later loads map instead (idx_cache_format.hpp).
//
//   idx_source_options o{idx_cache_dirs(cfg.data.cache_dir, data_dir)};
//   auto f = open_idx_bytes(dir / "emnist-bymerge-test-images-idx3-ubyte.gz",
//   o); if (!f) report(f.error().message);     // the source's errors, as ever
//   if (auto ok = f->verify(0, f->bytes().size()); !ok) {
//     o.ignore_cache = true;                // a damaged cache: the source
//     f = open_idx_bytes(file, o);
//   }
//
// A cache file is never trusted blindly. It is used only when its header
// is whole (magic, version, its own checksum, the file's size) and names
// the source as it is now (the .gz's size and the CRC-32 and length its
// trailer keeps of the inflated data), and the caller checks every part it
// reads against the chunk checksums (verify) before using it. A cache file
// appears whole or not at all: it is written under a temporary name (or
// none, O_TMPFILE) and renamed into place; processes starting together
// take a lock so that one inflates and the others wait and map it.
// Anything that stops the cache (a read-only or full file system, a folder
// owned by someone else) costs only time: the data is inflated into memory.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "model/idx_cache_format.hpp"

namespace emnist {

/// A folder that may hold cache files, and how far to trust it.
struct idx_cache_dir {
  enum class kind {
    /// Given by the user (data.cache_dir): created when missing.
    chosen,
    /// `<data dir>/.cache`: read when it exists; made only where the data
    /// folder grants write permission (not merely to root) on a writable
    /// file system, so that a shared or read-only data folder is left as
    /// it is.
    beside_data,
    /// `${TMPDIR:-/tmp}/emnist-cache-<uid>`: made mode 0700; used only
    /// while it is a folder of ours that nobody else may write.
    private_tmp,
  };
  std::filesystem::path path;
  kind how = kind::chosen;
};

/// The folders data.cache_dir names, tried in order: "" (the default) the
/// data's `.cache` folder, then the private one under $TMPDIR or /tmp;
/// "off" none (every load inflates); anything else that folder alone.
[[nodiscard]] std::vector<idx_cache_dir> idx_cache_dirs(
    const std::string& setting, const std::filesystem::path& data_dir);

struct idx_source_options {
  std::vector<idx_cache_dir> cache_dirs;  ///< empty: no cache
  /// Inflate the source even when a cache file looks good (after a cache
  /// file failed verify); the cache file is then written anew.
  bool ignore_cache = false;
  /// How long to wait for another process inflating the same file.
  std::chrono::milliseconds lock_wait{30'000};
  /// Threads for checksums (0: one per core).
  unsigned threads = 0;
  /// The checksummed chunk of cache files written (readers take theirs
  /// from the file).
  std::uint32_t chunk_bytes = cache_chunk_bytes;
};

/// Where a file's bytes came from.
enum class idx_origin {
  raw_file,         ///< the source is raw IDX: mapped
  cache,            ///< a cache file, mapped (verify before use)
  inflated_cached,  ///< inflated here, into a cache file now in place
  inflated,         ///< inflated here into memory (no cache: see note)
};

/// The raw IDX bytes of a file (header included), shared and read-only.
class idx_bytes {
 public:
  std::span<const std::uint8_t> bytes() const;
  /// What keeps bytes() alive; hold it as long as they are used.
  std::shared_ptr<const void> owner() const;
  idx_origin origin() const;
  /// For messages: where the bytes came from, e.g. "cache
  /// /tmp/emnist-cache-0/emnist-bymerge-test-images-idx3-ubyte.276bb80c.idx",
  /// "inflated (no cache: /data/.cache: Read-only file system)".
  const std::string& note() const;
  /// Checks bytes [begin, end) against the cache file's chunk checksums,
  /// each chunk once (on up to `threads` threads). Always fine for bytes
  /// that did not come from a cache file: a raw file has no checksum, and
  /// what was inflated here passed gzip's own. Not thread-safe.
  [[nodiscard]] expected<void> verify(std::size_t begin, std::size_t end);

  struct state;
  explicit idx_bytes(std::shared_ptr<state> s) : s_(std::move(s)) {}

 private:
  std::shared_ptr<state> s_;
};

/// The bytes of `file`, raw or gzip (see above). Errors are the source's
/// (it cannot be opened, it is corrupt: naming the file and the byte
/// offset); a cache that cannot be read or written is never an error.
[[nodiscard]] expected<idx_bytes> open_idx_bytes(
    const std::filesystem::path& file, const idx_source_options& options);

/// The name of `source`'s cache file: the source's name without ".gz",
/// then its trailer's CRC-32 in hex, then ".idx".
[[nodiscard]] std::string idx_cache_name(const std::filesystem::path& source,
                                         std::uint32_t crc32);

}  // namespace emnist
