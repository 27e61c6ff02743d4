// PNG files for the tests, written with libpng's simplified API: grey, RGB
// or RGBA pixels, row-major. And PNGs put together by hand around a zlib
// stream of our choice: decompression bombs.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace emnist::test {

enum class png_kind { grey, rgb, rgba };

/// The bytes of a PNG of `width` x `height` pixels of `kind` (1, 3 or 4
/// bytes a pixel in `pixels`).
std::string png_bytes(std::size_t width, std::size_t height, png_kind kind,
                      const std::vector<std::uint8_t>& pixels);

/// IHDR's fields.
struct png_header {
  std::uint32_t width = 28, height = 28;
  std::uint8_t depth = 8;
  std::uint8_t colour_type = 0;  ///< 0 grey, 2 RGB, 3 palette, 4, 6 alpha
  std::uint8_t interlace = 0;    ///< 1: Adam7
};

/// A zlib stream of `mib` MiB of zero bytes in about 1 KB a MiB (deflate's
/// best ratio, about 1:1030): one MiB deflated and ended with a full flush
/// (so that the next starts afresh), its bytes repeated.
std::string zeros_zlib_stream(std::size_t mib);

/// A PNG of `header` (a palette of one black entry when it has one) whose
/// pixel stream is `zlib_stream`, in IDAT chunks of at most `idat_bytes`
/// (libpng refuses a chunk longer than the rows could need), then IEND.
std::string png_with_stream(const png_header& header,
                            const std::string& zlib_stream,
                            std::size_t idat_bytes = 512);

/// A decompression bomb: a PNG of `header` whose pixel stream inflates to
/// `mib` MiB of zeros, its rows (all black) and far more.
std::string png_bomb(const png_header& header, std::size_t mib);

}  // namespace emnist::test
