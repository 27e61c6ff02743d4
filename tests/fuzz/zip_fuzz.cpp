// A zip archive's directory from any bytes, walked as the data fetch walks
// it: the end record, the central directory, each member's local header.
#include <span>

#include "fuzz/fuzz_target.hpp"
#include "runtime/data/zip_directory.hpp"

EMNIST_FUZZ_TARGET(zip) {
  using namespace emnist;
  const std::span<const std::byte> archive(
      reinterpret_cast<const std::byte*>(data), size);
  auto eocd = find_zip_eocd(archive, 0, "fuzz.zip");
  if (!eocd) {
    fuzz::check(eocd.error().message.rfind("fuzz.zip", 0) == 0,
                "an error names the archive");
    return false;
  }
  fuzz::check(eocd->cd_offset + eocd->cd_size <= eocd->offset,
              "the central directory lies before the end record");
  auto entries = parse_zip_central_directory(
      archive.subspan(eocd->cd_offset, eocd->cd_size), *eocd, "fuzz.zip");
  if (!entries) return false;
  fuzz::check(entries->size() == eocd->entry_count,
              "as many entries as the end record says");
  for (const auto& e : *entries) {
    fuzz::check(e.local_header_offset < eocd->cd_offset,
                "a member starts before the central directory");
    const auto need = zip_local_header_bytes(e);
    if (e.local_header_offset + need > size) continue;
    auto at =
        parse_zip_local_header(archive.subspan(e.local_header_offset, need), e,
                               eocd->cd_offset, "fuzz.zip");
    if (at) {
      fuzz::check(*at + e.compressed_size <= eocd->cd_offset,
                  "a member's data ends before the central directory");
    }
  }
  return true;
}
