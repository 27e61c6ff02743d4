// zlib, streamed through a small buffer: nothing the size of the image is
// allocated to find out that the stream is too long.
#include "runtime/data/png_stream.hpp"

#include <zlib.h>

#include <array>
#include <limits>

#include "runtime/data/png_chunks.hpp"

namespace emnist {
namespace {

/// Bytes of one row of `width` pixels of `bits` bits each, with its filter
/// byte.
std::uint64_t row_bytes(std::uint64_t width, std::uint64_t bits) {
  return 1 + (width * bits + 7) / 8;
}

/// Adam7's passes: first column and row, and the steps between them.
struct adam7_pass {
  std::uint32_t x0, y0, dx, dy;
};
constexpr std::array<adam7_pass, 7> adam7{{{0, 0, 8, 8},
                                           {4, 0, 8, 8},
                                           {0, 4, 4, 8},
                                           {2, 0, 4, 4},
                                           {0, 2, 2, 4},
                                           {1, 0, 2, 2},
                                           {0, 1, 1, 2}}};

/// zlib's inflater with the window its stream's header asks for, as
/// libpng opens it: a distance past that window is an error in both.
struct inflater {
  z_stream z{};
  bool ok = false;
  inflater() { ok = inflateInit2(&z, 0) == Z_OK; }
  ~inflater() {
    if (ok) inflateEnd(&z);
  }
  inflater(const inflater&) = delete;
  inflater& operator=(const inflater&) = delete;
};

}  // namespace

std::optional<std::uint64_t> png_inflated_size(
    std::span<const std::byte> ihdr) {
  if (ihdr.size() != 13) return std::nullopt;
  const std::uint64_t w = png_be32(&ihdr[0]), h = png_be32(&ihdr[4]);
  const int depth = std::to_integer<int>(ihdr[8]);
  const int colour_type = std::to_integer<int>(ihdr[9]);
  const int interlace = std::to_integer<int>(ihdr[12]);
  int channels = 0;
  switch (colour_type) {
    case 0:  // grey: 1, 2, 4, 8 or 16 bits
      channels =
          depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16
              ? 1
              : 0;
      break;
    case 3:  // palette: 1, 2, 4 or 8 bits
      channels = depth == 1 || depth == 2 || depth == 4 || depth == 8 ? 1 : 0;
      break;
    case 2:  // RGB, grey and alpha, RGBA: 8 or 16 bits
    case 4:
    case 6:
      channels = depth == 8 || depth == 16 ? (colour_type == 2   ? 3
                                              : colour_type == 4 ? 2
                                                                 : 4)
                                           : 0;
      break;
    default:
      break;
  }
  if (channels == 0 || w == 0 || h == 0 || w > png_max_chunk_length ||
      h > png_max_chunk_length || interlace > 1) {
    return std::nullopt;
  }
  const std::uint64_t bits = static_cast<std::uint64_t>(depth) * channels;
  constexpr auto most = std::numeric_limits<std::uint64_t>::max();
  if (interlace == 0) {
    const std::uint64_t row = row_bytes(w, bits);
    if (h > most / row) return std::nullopt;
    return h * row;
  }
  std::uint64_t total = 0;
  for (const auto& p : adam7) {
    if (w <= p.x0 || h <= p.y0) continue;  // an empty pass has no rows
    const std::uint64_t pw = (w - p.x0 + p.dx - 1) / p.dx;
    const std::uint64_t ph = (h - p.y0 + p.dy - 1) / p.dy;
    const std::uint64_t row = row_bytes(pw, bits);
    if (ph > (most - total) / row) return std::nullopt;
    total += ph * row;
  }
  return total;
}

png_stream check_png_stream(std::span<const std::byte> file,
                            std::uint64_t rows_bytes,
                            const cpu_budget& budget) {
  inflater inf;
  if (!inf.ok) return png_stream::fits;  // out of memory: libpng's to say
  std::array<Bytef, 32 * 1024> out;
  std::uint64_t inflated = 0;
  bool in_run = false;
  std::size_t pos = png_signature_size;
  while (const auto chunk = png_chunk_at(file, pos)) {
    pos = chunk->end();
    if (chunk->type != "IDAT") {
      if (in_run) break;  // libpng reads the first run of IDATs only
      continue;
    }
    in_run = true;
    inf.z.next_in =
        reinterpret_cast<Bytef*>(const_cast<std::byte*>(chunk->data.data()));
    inf.z.avail_in = static_cast<uInt>(chunk->data.size());
    while (inf.z.avail_in > 0) {
      if (budget.spent()) return png_stream::over_budget;
      inf.z.next_out = out.data();
      inf.z.avail_out = static_cast<uInt>(out.size());
      const int rc = inflate(&inf.z, Z_NO_FLUSH);
      inflated += out.size() - inf.z.avail_out;
      if (inflated > rows_bytes) return png_stream::excess;
      if (rc == Z_STREAM_END) return png_stream::fits;
      if (rc != Z_OK) return png_stream::fits;  // damaged: libpng's to say
    }
  }
  return png_stream::fits;  // cut short: libpng's to say
}

}  // namespace emnist
