// PNG's layout (ISO/IEC 15948; the chunks in png_chunks.hpp): IHDR first;
// the pixels are the concatenated IDAT chunks' zlib stream, which inflates
// to one filter byte and the filtered samples per row; IEND last.
#include "runtime/data/png_fast_reader.hpp"

#include <libdeflate.h>

#include <array>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "runtime/data/png_chunks.hpp"

namespace emnist {
namespace {

// libpng's limits as Debian builds it (pnglibconf.h): a wider or taller
// image, or a longer chunk other than IDAT, is an error there.
constexpr std::uint32_t libpng_max_side = 1'000'000;
constexpr std::uint32_t libpng_max_chunk = 8'000'000;

/// The most IDAT bytes one chunk may hold before libpng calls the chunk
/// too large (png_check_chunk_length in libpng 1.6.39): the rows' bytes
/// plus zlib's overhead for them.
std::uint64_t libpng_idat_limit(std::uint64_t height, std::uint64_t row_bytes) {
  const std::uint64_t row_factor = row_bytes + 1;
  if (height > 0xffff'ffffull / row_factor) return png_max_chunk_length;
  std::uint64_t limit = height * row_factor;
  const std::uint64_t block = row_factor > 32566 ? 32566 : row_factor;
  limit += 6 + 5 * (limit / block + 1);
  return limit < png_max_chunk_length ? limit : png_max_chunk_length;
}

struct free_decompressor {
  void operator()(libdeflate_decompressor* d) const {
    libdeflate_free_decompressor(d);
  }
};

/// One decompressor per thread, kept: it is tens of KB to set up.
libdeflate_decompressor* thread_decompressor() {
  thread_local std::unique_ptr<libdeflate_decompressor, free_decompressor> d{
      libdeflate_alloc_decompressor()};
  return d.get();
}

int paeth(int a, int b, int c) {
  const int pa = std::abs(b - c), pb = std::abs(a - c),
            pc = std::abs(a + b - 2 * c);
  return pa <= pb && pa <= pc ? a : (pb <= pc ? b : c);
}

/// Four bytes of one pixel as the lanes of a vector register, added and
/// averaged lane by lane (GCC and Clang's vector extension).
using pixel_lanes = std::uint8_t __attribute__((vector_size(16)));

/// The first `Bpp` lanes to memory, through a general register: copying
/// them straight from the vector makes the compiler spill it to the stack
/// and read it back in pieces, which stalls every pixel.
template <std::size_t Bpp>
void store_pixel(std::uint8_t* out, pixel_lanes v) {
  const auto word = std::bit_cast<std::array<std::uint32_t, 4>>(v)[0];
  if constexpr (Bpp == 4) {
    std::memcpy(out, &word, 4);
  } else {
    static_assert(Bpp == 3);
    const auto low = static_cast<std::uint16_t>(word);
    std::memcpy(out, &low, 2);
    out[2] = static_cast<std::uint8_t>(word >> 16);
  }
}

/// Runs `next(left, raw, above)`, the pixel's value from the one to its
/// left, its filtered bytes and the one above, along a row of 3 or 4 bytes
/// a pixel, as vector lanes. Reads 4 bytes a pixel from `in` and `up`
/// (past the row's end by one at its last pixel with 3 bytes a pixel), and
/// stores 4 (the fourth on the next pixel, written after it; the row's
/// last exactly): one load, one add and one store a pixel.
template <std::size_t Bpp, class Next>
void unfilter_lanes(const std::uint8_t* in, const std::uint8_t* up,
                    std::uint8_t* out, std::size_t n, Next next) {
  pixel_lanes left{};
  const auto step = [&](std::size_t i) {
    pixel_lanes raw{}, above{};
    std::memcpy(&raw, in + i, 4);
    std::memcpy(&above, up + i, 4);
    left = next(left, raw, above);
  };
  std::size_t i = 0;
  for (; i + Bpp < n; i += Bpp) {
    step(i);
    std::memcpy(out + i, &left, 4);
  }
  step(i);
  store_pixel<Bpp>(out + i, left);
}

/// Undoes one row's filter (PNG's five: none, sub, up, average, paeth)
/// from `in` into `out`; `up` is the row above, unfiltered (zeros for the
/// first). `Bpp` bytes a pixel, as a constant, and the pixel to the left
/// carried in registers. `in` and `up` may be read a byte past the row.
/// False for an unknown filter.
template <std::size_t Bpp>
bool unfilter_row(std::uint8_t filter, const std::uint8_t* in,
                  const std::uint8_t* up, std::uint8_t* out, std::size_t n) {
  // Sub and average with 3 or 4 bytes a pixel (RGB, RGBA: the photos)
  // take one vector add a pixel, against a dozen instructions byte by byte.
  constexpr bool lanes = Bpp >= 3;
  switch (filter) {
    case 0:
      std::memcpy(out, in, n);
      return true;
    case 1:
      if constexpr (lanes) {
        unfilter_lanes<Bpp>(in, up, out, n,
                            [](pixel_lanes left, pixel_lanes raw, pixel_lanes) {
                              return raw + left;
                            });
      } else {
        std::array<int, Bpp> left{};
        for (std::size_t i = 0; i < n; i += Bpp) {
          for (std::size_t c = 0; c < Bpp; ++c) {
            left[c] = (in[i + c] + left[c]) & 0xff;
            out[i + c] = static_cast<std::uint8_t>(left[c]);
          }
        }
      }
      return true;
    case 2:
      for (std::size_t i = 0; i < n; ++i) {
        out[i] = static_cast<std::uint8_t>(in[i] + up[i]);
      }
      return true;
    case 3:
      if constexpr (lanes) {
        unfilter_lanes<Bpp>(
            in, up, out, n,
            [](pixel_lanes left, pixel_lanes raw, pixel_lanes above) {
              // (left + above) / 2 without a ninth bit.
              return raw + ((left & above) + ((left ^ above) >> 1));
            });
      } else {
        std::array<int, Bpp> left{};
        for (std::size_t i = 0; i < n; i += Bpp) {
          for (std::size_t c = 0; c < Bpp; ++c) {
            left[c] = (in[i + c] + ((left[c] + up[i + c]) >> 1)) & 0xff;
            out[i + c] = static_cast<std::uint8_t>(left[c]);
          }
        }
      }
      return true;
    case 4: {
      std::array<int, Bpp> left{}, up_left{};
      for (std::size_t i = 0; i < n; i += Bpp) {
        for (std::size_t c = 0; c < Bpp; ++c) {
          const int above = up[i + c];
          left[c] = (in[i + c] + paeth(left[c], above, up_left[c])) & 0xff;
          up_left[c] = above;
          out[i + c] = static_cast<std::uint8_t>(left[c]);
        }
      }
      return true;
    }
    default:
      return false;
  }
}

/// False for an unknown filter, or once `budget` is spent (checked every
/// 64 rows: a clock read costs what a few hundred bytes of a row do).
template <std::size_t Bpp>
bool unfilter(const std::uint8_t* filtered, png_pixels& px,
              const cpu_budget& budget) {
  const std::size_t row = px.width * Bpp;
  const std::vector<std::uint8_t> zeros(row + 4);  // a byte past, read
  const std::uint8_t* up = zeros.data();
  std::uint8_t* out = px.samples.data();
  for (std::size_t y = 0; y < px.height; ++y, filtered += row + 1) {
    if (!unfilter_row<Bpp>(filtered[0], filtered + 1, up, out, row) ||
        (y % 64 == 63 && budget.spent())) {
      return false;
    }
    up = out;
    out += row;
  }
  return true;
}

}  // namespace

std::optional<png_pixels> read_png_fast(std::span<const std::byte> file,
                                        std::size_t max_pixels,
                                        const cpu_budget& budget) {
  png_pixels px;
  // The IDAT chunks' data: one span where they are one chunk (no copy),
  // else their concatenation.
  std::span<const std::byte> stream;
  std::vector<std::byte> joined;
  enum class stage { header, before_pixels, pixels, after_pixels };
  stage at = stage::header;
  std::uint64_t idat_limit = 0;
  std::size_t pos = png_signature_size;
  for (;;) {
    const auto chunk = png_chunk_at(file, pos);
    if (!chunk || !png_chunk_type_valid(chunk->type)) return std::nullopt;
    pos = chunk->end();
    const std::string_view type = chunk->type;
    const auto data = chunk->data;
    const std::uint32_t length = static_cast<std::uint32_t>(data.size());
    if (!chunk->ancillary() &&
        libdeflate_crc32(0, type.data(), 4 + data.size()) != chunk->crc) {
      return std::nullopt;
    }
    if (type != "IDAT" && length > libpng_max_chunk) return std::nullopt;

    if (at == stage::header) {
      if (type != "IHDR" || length != 13) return std::nullopt;
      const std::uint32_t w = png_be32(&data[0]), h = png_be32(&data[4]);
      const int depth = std::to_integer<int>(data[8]);
      const int colour_type = std::to_integer<int>(data[9]);
      if (w == 0 || h == 0 || w > libpng_max_side || h > libpng_max_side ||
          w > max_pixels / h || depth != 8 ||
          (colour_type != 0 && colour_type != 2 && colour_type != 4 &&
           colour_type != 6) ||
          data[10] != std::byte{0} || data[11] != std::byte{0} ||
          data[12] != std::byte{0}) {
        return std::nullopt;  // other kinds, or wrong: libpng's to read
      }
      px.width = w;
      px.height = h;
      px.colour = (colour_type & 2) != 0;
      px.alpha = (colour_type & 4) != 0;
      idat_limit = libpng_idat_limit(h, px.width * px.channels());
      at = stage::before_pixels;
      continue;
    }
    if (type == "IDAT") {
      if (at == stage::after_pixels || length > idat_limit) return std::nullopt;
      if (at == stage::before_pixels) {
        stream = data;
      } else {
        if (joined.empty()) joined.assign(stream.begin(), stream.end());
        joined.insert(joined.end(), data.begin(), data.end());
        stream = joined;
      }
      at = stage::pixels;
      continue;
    }
    if (at == stage::pixels) at = stage::after_pixels;
    if (type == "IEND") {
      if (at != stage::after_pixels || length != 0) return std::nullopt;
      break;
    }
    // Any other critical chunk (PLTE, IHDR again, unknown ones), or one
    // that changes the rendering: not for this reader.
    if (!chunk->ancillary() || png_chunk_changes_rendering(type)) {
      return std::nullopt;
    }
  }

  libdeflate_decompressor* inflater = thread_decompressor();
  if (!inflater) return std::nullopt;
  const std::size_t bpp = px.channels(), row = px.width * bpp;
  // Not zeroed: the inflater writes every byte, or the read fails. Four
  // bytes to spare, which unfilter_row may read past the last row.
  const std::size_t filtered_size = px.height * (row + 1);
  const std::unique_ptr<std::uint8_t[]> filtered(
      new std::uint8_t[filtered_size + 4]);
  std::memset(filtered.get() + filtered_size, 0, 4);
  // The inflater stops at the rows' end: a stream with more to give (a
  // bomb: 1 GB from 1 MB) costs no more than the rows, and libpng's path
  // then refuses it.
  std::size_t read = 0, written = 0;
  if (libdeflate_zlib_decompress_ex(inflater, stream.data(), stream.size(),
                                    filtered.get(), filtered_size, &read,
                                    &written) != LIBDEFLATE_SUCCESS ||
      read != stream.size() || written != filtered_size || budget.spent()) {
    return std::nullopt;  // damaged, short or with data to spare
  }
  px.samples.resize(px.height * row);
  const bool ok = bpp == 1   ? unfilter<1>(filtered.get(), px, budget)
                  : bpp == 2 ? unfilter<2>(filtered.get(), px, budget)
                  : bpp == 3 ? unfilter<3>(filtered.get(), px, budget)
                             : unfilter<4>(filtered.get(), px, budget);
  if (!ok) return std::nullopt;
  return px;
}

}  // namespace emnist
