// `emnist data fetch`: downloads the files of one EMNIST split from NIST's
// official archive, verifies them and writes them to a folder.
//
//   emnist::fetch_options opts;
//   opts.dir = "data/emnist";
//   opts.split = "bymerge";
//   auto r = emnist::fetch_split(opts);
//   if (!r) { std::cerr << r.error().message << '\n'; return 1; }
//   // r->downloaded: fetched now; r->present: already there and verified
//
// The archive (gzip.zip, 535 MB) is not downloaded whole. Range requests
// read its end of central directory, its central directory, then for each
// of the split's five members its local header and compressed data, which
// is inflated on the fly. Each file is checked against the zip's CRC-32 and,
// where the table knows it, its sha256 and size, then written atomically:
// DIR/.<name>.part, fsync, rename. On any failure the part file is removed,
// so a partial file is never left behind. A file already in DIR with the
// right size and sha256 (or, without a known sum, the archive's size and
// CRC-32) is kept and reported as present; when all five have known sums
// and are present, nothing is requested from the server.
//
// The server must honour Range requests (answer 206); one that answers 200
// gets a clear error. Every transfer has a connect timeout and a low-speed
// timeout, so a dead server fails instead of hanging. Blocking: call it from
// a thread that may block (the CLI's main thread), not from an event loop.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "runtime/data/official_checksums.hpp"

namespace emnist {

struct fetch_options {
  std::string url{default_archive_url};  ///< http(s) URL of the zip archive
  std::filesystem::path dir;      ///< destination folder (created if missing)
  std::string split = "bymerge";  ///< one of the six EMNIST splits
  /// Expected sums and sizes by base name; null: official_checksums().
  /// Files not in the table are checked by the zip's CRC-32 only.
  const checksum_table* checksums = nullptr;
  bool progress = true;  ///< progress bar on stderr
};

struct fetch_result {
  std::vector<std::string> downloaded;  ///< base names fetched and written now
  std::vector<std::string> present;     ///< base names already there, verified
};

/// Makes the five files of `opts.split` present and verified in `opts.dir`
/// (see the top of this file). Errors name the URL, archive member or file
/// and what is wrong; the code says what to do:
///  - errc::invalid_argument: bad split, folder or URL, a server without
///    Range support, an unsupported archive (ZIP64, encrypted, other method);
///  - errc::not_found: HTTP 404/410, a member not in the archive;
///  - errc::unavailable: network errors and timeouts, HTTP 5xx, a full disk;
///  - errc::data_loss: a corrupt or truncated archive, a CRC-32, size or
///    sha256 mismatch;
///  - errc::aborted: the archive changed on the server during the fetch.
/// Never throws (out of memory becomes errc::internal).
[[nodiscard]] expected<fetch_result> fetch_split(const fetch_options& opts);

}  // namespace emnist
