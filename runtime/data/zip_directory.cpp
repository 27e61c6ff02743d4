// Zip directory parsing (see zip_directory.hpp). Field offsets follow
// PKWARE's APPNOTE.TXT, sections 4.3.7 (local file header), 4.3.12 (central
// directory header) and 4.3.16 (end of central directory record). All
// integers are little-endian.
#include "runtime/data/zip_directory.hpp"

#include <cstdio>
#include <utility>

namespace emnist {

namespace {

constexpr std::uint32_t local_header_signature = 0x04034b50;
constexpr std::uint32_t central_header_signature = 0x02014b50;
constexpr std::uint32_t eocd_signature = 0x06054b50;
constexpr std::uint32_t zip64_locator_signature = 0x07064b50;
constexpr std::size_t zip64_locator_size = 20;

// Callers check that [pos, pos + 2) or [pos, pos + 4) lies in `b`.
std::uint16_t le16(std::span<const std::byte> b, std::size_t pos) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(b[pos]) |
                                    std::to_integer<unsigned>(b[pos + 1]) << 8);
}

std::uint32_t le32(std::span<const std::byte> b, std::size_t pos) {
  return static_cast<std::uint32_t>(le16(b, pos)) |
         static_cast<std::uint32_t>(le16(b, pos + 2)) << 16;
}

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", static_cast<unsigned>(v));
  return buf;
}

std::string at(std::uint64_t offset) {
  return " at offset " + std::to_string(offset);
}

error corrupt(std::string_view archive, std::string what) {
  return make_error(errc::data_loss, std::string(archive) + ": " + what);
}

error unsupported(std::string_view archive, std::string what) {
  return make_error(errc::invalid_argument, std::string(archive) + ": " + what);
}

std::string member(std::string_view archive, std::string_view name) {
  return std::string(archive) + " member " + std::string(name) + ": ";
}

expected<zip_eocd> parse_eocd(std::span<const std::byte> tail, std::size_t pos,
                              std::uint64_t tail_offset,
                              std::string_view archive) {
  const std::uint64_t offset = tail_offset + pos;
  const std::uint16_t disk = le16(tail, pos + 4);
  const std::uint16_t cd_disk = le16(tail, pos + 6);
  const std::uint16_t disk_entries = le16(tail, pos + 8);
  const std::uint16_t entries = le16(tail, pos + 10);
  const std::uint32_t cd_size = le32(tail, pos + 12);
  const std::uint32_t cd_offset = le32(tail, pos + 16);
  if (pos >= zip64_locator_size &&
      le32(tail, pos - zip64_locator_size) == zip64_locator_signature)
    return unsupported(archive, "ZIP64 end of central directory locator" +
                                    at(offset - zip64_locator_size) +
                                    ": ZIP64 archives are not supported");
  if (disk == 0xffff || cd_disk == 0xffff || disk_entries == 0xffff ||
      entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff)
    return unsupported(archive, "end of central directory" + at(offset) +
                                    " defers to a ZIP64 record: ZIP64 "
                                    "archives are not supported");
  if (disk != 0 || cd_disk != 0 || disk_entries != entries)
    return unsupported(archive, "end of central directory" + at(offset) +
                                    " describes a multi-disk archive, which "
                                    "is not supported");
  const std::uint64_t cd_end = std::uint64_t{cd_offset} + cd_size;
  if (cd_end > offset)
    return corrupt(archive, "central directory [" + std::to_string(cd_offset) +
                                ", " + std::to_string(cd_end) +
                                ") overlaps the end of central directory" +
                                at(offset));
  if (std::uint64_t{entries} * zip_central_header_size > cd_size)
    return corrupt(archive, "central directory of " + std::to_string(cd_size) +
                                " bytes" + at(cd_offset) + " cannot hold the " +
                                std::to_string(entries) +
                                " entries the end of central directory" +
                                at(offset) + " announces");
  return zip_eocd{offset, entries, cd_offset, cd_size};
}

}  // namespace

expected<zip_eocd> find_zip_eocd(std::span<const std::byte> tail,
                                 std::uint64_t tail_offset,
                                 std::string_view archive) {
  if (tail.size() > zip_eocd_search_bytes) {
    tail_offset += tail.size() - zip_eocd_search_bytes;
    tail = tail.subspan(tail.size() - zip_eocd_search_bytes);
  }
  // The last signature whose comment fits in the buffer is the record (as
  // in Go's archive/zip and Info-ZIP); a signature inside a comment that
  // reaches past the end is skipped.
  if (tail.size() >= zip_eocd_size) {
    for (std::size_t pos = tail.size() - zip_eocd_size + 1; pos-- > 0;) {
      if (le32(tail, pos) != eocd_signature) continue;
      if (pos + zip_eocd_size + le16(tail, pos + 20) > tail.size()) continue;
      return parse_eocd(tail, pos, tail_offset, archive);
    }
  }
  return corrupt(archive, "end of central directory not found in the last " +
                              std::to_string(tail.size()) + " bytes");
}

expected<std::vector<zip_entry>> parse_zip_central_directory(
    std::span<const std::byte> cd, const zip_eocd& eocd,
    std::string_view archive) {
  if (cd.size() != eocd.cd_size)
    return make_error(errc::invalid_argument,
                      std::string(archive) + ": central directory buffer has " +
                          std::to_string(cd.size()) +
                          " bytes, the end of "
                          "central directory announces " +
                          std::to_string(eocd.cd_size));
  std::vector<zip_entry> entries;
  entries.reserve(static_cast<std::size_t>(eocd.entry_count));
  std::size_t pos = 0;
  for (std::uint64_t i = 0; i < eocd.entry_count; ++i) {
    const std::uint64_t offset = eocd.cd_offset + pos;
    const std::string which =
        "central directory entry " + std::to_string(i) + at(offset);
    if (cd.size() - pos < zip_central_header_size)
      return corrupt(archive, which + " is truncated: it needs " +
                                  std::to_string(zip_central_header_size) +
                                  " bytes, the directory has " +
                                  std::to_string(cd.size() - pos) + " left");
    if (const std::uint32_t sig = le32(cd, pos);
        sig != central_header_signature)
      return corrupt(archive, which + " has signature " + hex32(sig) +
                                  ", expected " +
                                  hex32(central_header_signature));
    zip_entry e;
    e.flags = le16(cd, pos + 8);
    e.method = le16(cd, pos + 10);
    e.crc32 = le32(cd, pos + 16);
    const std::uint32_t csize = le32(cd, pos + 20);
    const std::uint32_t usize = le32(cd, pos + 24);
    const std::size_t name_len = le16(cd, pos + 28);
    const std::size_t var_len =
        name_len + le16(cd, pos + 30) + std::size_t{le16(cd, pos + 32)};
    const std::uint32_t lho = le32(cd, pos + 42);
    if (cd.size() - pos - zip_central_header_size < var_len)
      return corrupt(archive, which +
                                  " is truncated: its name, extra field "
                                  "and comment need " +
                                  std::to_string(var_len) +
                                  " bytes, the "
                                  "directory has " +
                                  std::to_string(cd.size() - pos -
                                                 zip_central_header_size) +
                                  " left");
    const auto* name = reinterpret_cast<const char*>(cd.data() + pos +
                                                     zip_central_header_size);
    e.name.assign(name, name_len);
    if (csize == 0xffffffff || usize == 0xffffffff || lho == 0xffffffff)
      return unsupported(archive, which + " (" + e.name +
                                      ") has ZIP64 sizes or offset, which are "
                                      "not supported");
    e.compressed_size = csize;
    e.uncompressed_size = usize;
    e.local_header_offset = lho;
    if (e.local_header_offset + zip_local_header_size + name_len >
        eocd.cd_offset)
      return corrupt(archive, which + " (" + e.name +
                                  ") puts its local header" +
                                  at(e.local_header_offset) +
                                  ", which does not fit before the central "
                                  "directory" +
                                  at(eocd.cd_offset));
    entries.push_back(std::move(e));
    pos += zip_central_header_size + var_len;
  }
  return entries;
}

expected<std::uint64_t> parse_zip_local_header(
    std::span<const std::byte> header, const zip_entry& entry,
    std::uint64_t data_limit, std::string_view archive) {
  const std::uint64_t offset = entry.local_header_offset;
  const std::string prefix =
      member(archive, entry.name) + "local header" + at(offset);
  if (header.size() < zip_local_header_size)
    return make_error(
        errc::data_loss,
        prefix + " is truncated: " + std::to_string(header.size()) +
            " bytes, needs " + std::to_string(zip_local_header_size));
  if (const std::uint32_t sig = le32(header, 0); sig != local_header_signature)
    return make_error(errc::data_loss, prefix + " has signature " + hex32(sig) +
                                           ", expected " +
                                           hex32(local_header_signature));
  const std::uint16_t method = le16(header, 8);
  const std::size_t name_len = le16(header, 26);
  const std::size_t extra_len = le16(header, 28);
  if (header.size() - zip_local_header_size < name_len)
    return make_error(
        errc::data_loss,
        prefix + " is truncated: its name needs " + std::to_string(name_len) +
            " bytes, " + std::to_string(header.size() - zip_local_header_size) +
            " were given");
  const std::string_view name(
      reinterpret_cast<const char*>(header.data() + zip_local_header_size),
      name_len);
  if (name != entry.name)
    return make_error(errc::data_loss, prefix + " names '" + std::string(name) +
                                           "', the central directory names '" +
                                           entry.name + "'");
  if (method != entry.method)
    return make_error(errc::data_loss, prefix + " says compression method " +
                                           std::to_string(method) +
                                           ", the central directory says " +
                                           std::to_string(entry.method));
  const std::uint64_t data_offset =
      offset + zip_local_header_size + name_len + extra_len;
  const std::uint64_t data_end = data_offset + entry.compressed_size;
  if (data_end > data_limit)
    return make_error(
        errc::data_loss,
        member(archive, entry.name) + "data [" + std::to_string(data_offset) +
            ", " + std::to_string(data_end) + ") runs past offset " +
            std::to_string(data_limit) + " (the central directory)");
  return data_offset;
}

}  // namespace emnist
