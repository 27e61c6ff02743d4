// PNG files as grey images: 8- or 16-bit, grey, RGB, palette, with or
// without alpha. The common 8-bit files are read by png_fast_reader, the
// rest by libpng's simplified API. Transparent pixels are laid on the
// shade that contrasts with the opaque ones, so that a character drawn on
// a transparent canvas stays visible whatever its colour.
//
// What a decode costs is bounded by what the image needs: its pixels (at
// most `max_pixels`), its rows' bytes inflated and no more (a stream that
// inflates further is refused), and an optional budget of CPU time.
//
// Lenient by choice, as libpng's simplified API is: what follows the
// pixels is never read, so a file without IEND, with a damaged IEND or
// with bytes after it reads like a whole one. None of these changes a
// pixel, and a predictor has no use for the chunks after the image data.
//
//   cpu_budget budget(std::chrono::milliseconds(250));
//   auto image = decode_png(bytes, "a.png", max_pixels, budget);
//   if (!image) return image.error();   // "a.png: not a PNG ...", etc.
#pragma once

#include <cstddef>
#include <span>
#include <string>

#include "base/expected.hpp"
#include "model/emnist_image.hpp"
#include "runtime/data/cpu_budget.hpp"
#include "runtime/data/png_pixels.hpp"

namespace emnist {

/// The most pixels an image may have unless the caller says otherwise.
inline constexpr std::size_t default_max_png_pixels = 16u << 20;

/// Errors (invalid_argument, naming `name`): not a PNG, a truncated or
/// damaged file (libpng's own words), zero size, more than `max_pixels`,
/// pixel data that inflates to more than the rows, `budget` spent.
[[nodiscard]] expected<grey_image> decode_png(
    std::span<const std::byte> file, const std::string& name,
    std::size_t max_pixels = default_max_png_pixels,
    const cpu_budget& budget = {});

/// Any PNG's samples through libpng alone, 8 bits a channel, with the same
/// errors as decode_png: the reference png_fast_reader is checked against.
[[nodiscard]] expected<png_pixels> read_png_with_libpng(
    std::span<const std::byte> file, const std::string& name,
    std::size_t max_pixels = default_max_png_pixels,
    const cpu_budget& budget = {});

}  // namespace emnist
