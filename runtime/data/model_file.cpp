// numpy .npz: .npy arrays (format 1.0) stored, uncompressed, in a zip, as
// np.savez writes them; read back through runtime/data/zip_directory.
#include "runtime/data/model_file.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <span>

#include "base/printable.hpp"
#include "runtime/data/file_io.hpp"
#include "runtime/data/zip_directory.hpp"

namespace emnist {
namespace {

using bytes = std::vector<std::byte>;

void put16(bytes& out, std::uint16_t v) {
  out.push_back(std::byte(v & 0xff));
  out.push_back(std::byte(v >> 8));
}
void put32(bytes& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v & 0xffff));
  put16(out, static_cast<std::uint16_t>(v >> 16));
}
void append(bytes& out, const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  out.insert(out.end(), b, b + n);
}

/// One .npy file: the header dict, padded so the data starts at a
/// multiple of 64, then the data (little-endian).
bytes npy(const std::string& descr, const std::string& shape, const void* data,
          std::size_t size) {
  std::string header = "{'descr': '" + descr +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  const std::size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  bytes out;
  append(out, "\x93NUMPY\x01\x00", 8);
  put16(out, static_cast<std::uint16_t>(header.size()));
  append(out, header.data(), header.size());
  append(out, data, size);
  return out;
}

/// Fixed-width UTF-32 little-endian strings (numpy's '<U<width>'), ASCII.
bytes unicode_array(const std::vector<std::string>& items, std::size_t width,
                    bool scalar) {
  std::vector<std::uint32_t> chars(items.size() * width, 0);
  for (std::size_t i = 0; i < items.size(); ++i) {
    for (std::size_t c = 0; c < items[i].size() && c < width; ++c) {
      chars[i * width + c] = static_cast<unsigned char>(items[i][c]);
    }
  }
  const std::string shape =
      scalar ? "()" : "(" + std::to_string(items.size()) + ",)";
  return npy("<U" + std::to_string(width), shape, chars.data(),
             chars.size() * 4);
}

/// A zip of stored members, as np.savez writes one.
bytes zip_of(const std::vector<std::pair<std::string, bytes>>& members) {
  bytes out, directory;
  for (const auto& [name, data] : members) {
    const auto offset = static_cast<std::uint32_t>(out.size());
    const auto crc = static_cast<std::uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(data.data()),
              static_cast<uInt>(data.size())));
    const auto size = static_cast<std::uint32_t>(data.size());
    const auto name_size = static_cast<std::uint16_t>(name.size());
    put32(out, 0x04034b50);  // local file header
    put16(out, 20);          // version needed
    put16(out, 0);           // flags
    put16(out, zip_method_stored);
    put16(out, 0);     // time
    put16(out, 0x21);  // date: 1980-01-01
    put32(out, crc);
    put32(out, size);
    put32(out, size);
    put16(out, name_size);
    put16(out, 0);  // extra
    append(out, name.data(), name.size());
    append(out, data.data(), data.size());
    put32(directory, 0x02014b50);  // central directory header
    put16(directory, 20);          // made by
    put16(directory, 20);          // needed
    put16(directory, 0);
    put16(directory, zip_method_stored);
    put16(directory, 0);
    put16(directory, 0x21);
    put32(directory, crc);
    put32(directory, size);
    put32(directory, size);
    put16(directory, name_size);
    put16(directory, 0);  // extra
    put16(directory, 0);  // comment
    put16(directory, 0);  // disk
    put16(directory, 0);  // internal attributes
    put32(directory, 0);  // external attributes
    put32(directory, offset);
    append(directory, name.data(), name.size());
  }
  const auto cd_offset = static_cast<std::uint32_t>(out.size());
  out.insert(out.end(), directory.begin(), directory.end());
  put32(out, 0x06054b50);  // end of central directory
  put16(out, 0);
  put16(out, 0);
  put16(out, static_cast<std::uint16_t>(members.size()));
  put16(out, static_cast<std::uint16_t>(members.size()));
  put32(out, static_cast<std::uint32_t>(directory.size()));
  put32(out, cd_offset);
  put16(out, 0);
  return out;
}

/// A parsed .npy member: its dtype, shape and data.
struct npy_array {
  std::string descr;
  std::vector<std::size_t> shape;
  std::span<const std::byte> data;
};

expected<npy_array> parse_npy(std::span<const std::byte> m,
                              const std::string& where) {
  auto bad = [&](const std::string& what) {
    return make_error(errc::data_loss, where + ": " + what);
  };
  if (m.size() < 10 || std::memcmp(m.data(), "\x93NUMPY", 6) != 0) {
    return bad("not a .npy array (no \\x93NUMPY magic)");
  }
  const auto major = static_cast<unsigned>(m[6]);
  std::size_t header_len = 0, start = 0;
  if (major == 1) {
    header_len = static_cast<std::size_t>(m[8]) | static_cast<std::size_t>(m[9])
                                                      << 8;
    start = 10;
  } else if (major == 2 || major == 3) {
    if (m.size() < 12) return bad("truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) {
      header_len |= static_cast<std::size_t>(m[8 + i]) << (8 * i);
    }
    start = 12;
  } else {
    return bad(".npy format version " + std::to_string(major) +
               " (this program reads 1 to 3)");
  }
  if (start + header_len > m.size()) return bad("truncated .npy header");
  const std::string header(reinterpret_cast<const char*>(m.data() + start),
                           header_len);
  auto field = [&](const std::string& key) -> std::string {
    const auto at = header.find("'" + key + "':");
    if (at == std::string::npos) return {};
    auto v = header.find_first_not_of(' ', at + key.size() + 3);
    if (v == std::string::npos) return {};
    if (header[v] == '\'') {
      const auto end = header.find('\'', v + 1);
      return end == std::string::npos ? std::string{}
                                      : header.substr(v + 1, end - v - 1);
    }
    if (header[v] == '(') {
      const auto end = header.find(')', v);
      return end == std::string::npos ? std::string{}
                                      : header.substr(v, end - v + 1);
    }
    const auto end = header.find_first_of(",}", v);
    return header.substr(v, end - v);
  };
  npy_array a;
  a.descr = field("descr");
  if (field("fortran_order") != "False") {
    return bad("fortran_order must be False (C order)");
  }
  const std::string shape = field("shape");
  if (shape.size() < 2 || shape.front() != '(') {
    return bad("no shape in the header '" + printable(header) + "'");
  }
  std::size_t count = 1;
  for (std::size_t i = 1; i < shape.size() - 1;) {
    const auto comma = shape.find(',', i);
    const std::string dim = shape.substr(
        i, (comma == std::string::npos ? shape.size() - 1 : comma) - i);
    if (dim.find_first_not_of(' ') != std::string::npos) {
      const std::size_t d = std::strtoull(dim.c_str(), nullptr, 10);
      if (d == 0 || d > (std::size_t{1} << 28)) {
        return bad("dimension '" + printable(dim) + "' of shape " + shape);
      }
      a.shape.push_back(d);
      count *= d;
      if (count > (std::size_t{1} << 28)) return bad("array too large");
    }
    if (comma == std::string::npos) break;
    i = comma + 1;
  }
  std::size_t item = 0;
  if (a.descr == "<f4") {
    item = 4;
  } else if (a.descr.rfind("<U", 0) == 0) {
    item = 4 * std::strtoull(a.descr.c_str() + 2, nullptr, 10);
  } else {
    return bad("dtype '" + printable(a.descr) + "' (expected <f4 or <U)");
  }
  const std::size_t want = count * item;
  if (start + header_len + want != m.size()) {
    return bad(std::to_string(m.size() - start - header_len) +
               " bytes of data, expected " + std::to_string(want) +
               " for shape " + shape);
  }
  a.data = m.subspan(start + header_len);
  return a;
}

std::vector<std::string> unicode_items(const npy_array& a) {
  const std::size_t width = std::strtoull(a.descr.c_str() + 2, nullptr, 10);
  std::vector<std::string> out;
  if (width == 0) return out;
  for (std::size_t at = 0; at + 4 * width <= a.data.size(); at += 4 * width) {
    std::string s;
    for (std::size_t c = 0; c < width; ++c) {
      std::uint32_t ch = 0;
      std::memcpy(&ch, a.data.data() + at + 4 * c, 4);
      if (ch == 0) break;
      s += ch < 128 ? static_cast<char>(ch) : '?';
    }
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

std::vector<std::string> class_labels(const class_mapping& mapping,
                                      std::size_t classes) {
  std::vector<std::string> labels;
  for (std::size_t c = 0; c < classes; ++c) {
    const int code = c < mapping.codes.size() ? mapping.codes[c] : -1;
    labels.push_back(code > 0 && code < 128
                         ? std::string(1, static_cast<char>(code))
                         : std::to_string(c));
  }
  return labels;
}

expected<void> write_npz(const std::filesystem::path& path,
                         const saved_model& model) {
  auto bytes = encode_npz(model, path.string());
  if (!bytes) return bytes.error();
  return write_file_atomically(path, *bytes);
}

expected<void> check_model_fits(const saved_model& model,
                                const std::string& name) {
  if (model.parameters.size() != model.shape.size() ||
      model.labels.size() != model.shape.classes) {
    return make_error(errc::invalid_argument,
                      name +
                          ": the model's parameters or labels do not match "
                          "its shape");
  }
  return {};
}

expected<std::string> encode_npz(const saved_model& model,
                                 const std::string& name) {
  if (auto fits = check_model_fits(model, name); !fits) return fits.error();
  const auto& s = model.shape;
  std::size_t width = 1;
  for (const auto& l : model.labels) width = std::max(width, l.size());
  const float* w1 = model.parameters.data();
  const float* w2 = w1 + s.w1_size();
  const std::vector<std::pair<std::string, bytes>> members = {
      {"w1.npy", npy("<f4",
                     "(" + std::to_string(s.inputs) + ", " +
                         std::to_string(s.hidden) + ")",
                     w1, s.w1_size() * 4)},
      {"w2.npy", npy("<f4",
                     "(" + std::to_string(s.hidden) + ", " +
                         std::to_string(s.classes) + ")",
                     w2, (s.size() - s.w1_size()) * 4)},
      {"input_scale.npy", npy("<f4", "()", &model.input_scale, 4)},
      {"labels.npy", unicode_array(model.labels, width, false)},
      {"pixel_order.npy", unicode_array({emnist_pixel_order},
                                        std::strlen(emnist_pixel_order), true)},
  };
  const bytes zip = zip_of(members);
  return std::string(reinterpret_cast<const char*>(zip.data()), zip.size());
}

expected<saved_model> read_npz(const std::filesystem::path& path) {
  auto raw = read_whole_file(path);
  if (!raw) return raw.error();
  return parse_npz(std::as_bytes(std::span(raw->data(), raw->size())),
                   path.string());
}

expected<saved_model> parse_npz(std::span<const std::byte> file,
                                const std::string& name) {
  const auto tail_size = std::min(file.size(), zip_eocd_search_bytes);
  auto eocd = find_zip_eocd(file.subspan(file.size() - tail_size),
                            file.size() - tail_size, name);
  if (!eocd) return eocd.error();
  auto entries = parse_zip_central_directory(
      file.subspan(eocd->cd_offset, eocd->cd_size), *eocd, name);
  if (!entries) return entries.error();
  std::map<std::string, npy_array> arrays;
  for (const auto& e : *entries) {
    const std::string where = name + ", member " + printable(e.name);
    if (e.method != zip_method_stored) {
      return make_error(errc::invalid_argument,
                        where +
                            ": compressed (np.savez_compressed); this "
                            "program reads np.savez files");
    }
    const auto need = zip_local_header_bytes(e);
    if (e.local_header_offset + need > file.size()) {
      return make_error(errc::data_loss, where + ": truncated");
    }
    auto at = parse_zip_local_header(file.subspan(e.local_header_offset, need),
                                     e, eocd->cd_offset, name);
    if (!at) return at.error();
    auto a = parse_npy(file.subspan(*at, e.compressed_size), where);
    if (!a) return a.error();
    std::string key = e.name;
    if (key.size() > 4 && key.ends_with(".npy")) key.resize(key.size() - 4);
    arrays[key] = *a;
  }
  auto get = [&](const char* key, const char* descr,
                 std::size_t dims) -> expected<npy_array> {
    auto it = arrays.find(key);
    if (it == arrays.end()) {
      return make_error(errc::data_loss,
                        name + ": no array '" + key + "' (not a model file)");
    }
    if (it->second.descr.rfind(descr, 0) != 0 ||
        it->second.shape.size() != dims) {
      return make_error(errc::data_loss,
                        name + ", array '" + key + "': expected " +
                            std::to_string(dims) + " dimensions of " + descr);
    }
    return it->second;
  };
  auto w1 = get("w1", "<f4", 2);
  if (!w1) return w1.error();
  auto w2 = get("w2", "<f4", 2);
  if (!w2) return w2.error();
  auto scale = get("input_scale", "<f4", 0);
  if (!scale) return scale.error();
  auto labels = get("labels", "<U", 1);
  if (!labels) return labels.error();
  saved_model m;
  m.shape = {w1->shape[0], w1->shape[1], w2->shape[1]};
  if (w2->shape[0] != m.shape.hidden || labels->shape[0] != m.shape.classes) {
    return make_error(errc::data_loss,
                      name +
                          ": w1, w2 and labels do not fit together "
                          "(inputs x hidden, hidden x classes, classes)");
  }
  m.parameters.resize(m.shape.size());
  std::memcpy(m.parameters.data(), w1->data.data(), w1->data.size());
  std::memcpy(m.parameters.data() + m.shape.w1_size(), w2->data.data(),
              w2->data.size());
  std::memcpy(&m.input_scale, scale->data.data(), 4);
  m.labels = unicode_items(*labels);
  return m;
}

}  // namespace emnist
