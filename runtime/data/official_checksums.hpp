// The official EMNIST release: where it is, which files each split has, and
// the sha256 and size of each file, so that a download or a cached copy can
// be verified.
//
//   if (auto ok = emnist::check_split(split); !ok) return ok.error();
//   for (const std::string& name : emnist::split_files(split)) {
//     auto it = emnist::official_checksums().find(name);  // may be absent
//   }
//
// The sums of the `.gz` files are those of the members of NIST's gzip.zip
// (see ../shared/data/emnist/OFFICIAL-SHA256.txt). Of the mapping files only
// emnist-bymerge-mapping.txt has a known sum; the others are checked by the
// zip's CRC32 alone.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/expected.hpp"

namespace emnist {

/// NIST's archive of the whole release in IDX format (535 MB). Its members
/// are gzip/emnist-<split>-....
inline constexpr std::string_view default_archive_url =
    "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip";

/// The expected content of one release file.
struct file_checksum {
  std::string sha256_hex{};  ///< 64 lowercase hex digits
  std::uint64_t bytes = 0;   ///< file size
};

/// Expected content by base name, e.g.
/// "emnist-mnist-test-labels-idx1-ubyte.gz".
using checksum_table = std::map<std::string, file_checksum, std::less<>>;

/// The sums and sizes of the official release files (built once, immutable,
/// safe to read from any thread).
[[nodiscard]] const checksum_table& official_checksums();

/// True for byclass, bymerge, balanced, letters, digits and mnist.
[[nodiscard]] bool is_known_split(std::string_view split) noexcept;

/// Succeeds for the six known splits; otherwise an errc::invalid_argument
/// error that names the split and lists the known ones.
[[nodiscard]] expected<void> check_split(std::string_view split);

/// The base names of a split's five files: train images, train labels, test
/// images, test labels (`.gz`), and the mapping (`.txt`). Does not check the
/// split; call check_split first.
[[nodiscard]] std::vector<std::string> split_files(std::string_view split);

}  // namespace emnist
