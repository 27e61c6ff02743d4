// The PNGs that people send emnist-predict most (8-bit grey, grey and
// alpha, RGB or RGBA, not interlaced), read without libpng: libdeflate
// inflates the pixels two to three times as fast as zlib does inside
// libpng, which was the larger part of a photo-sized prediction.
//
// It reads only what it is sure of, and gives up on anything else: other
// depths and colour types, palettes, interlacing, colour-space chunks
// (gAMA and the like, which libpng would apply), chunks it does not know,
// a bad checksum, a damaged or short stream, a stream that inflates to
// more than the rows (it stops there), pixels past the budget, CPU time
// past its budget. The caller then asks libpng, which decodes such a file
// or says what is wrong with it. So this reader never has to explain an error,
// and never accepts a file libpng refuses: the png fuzz target checks both, and
// that the two give the same samples, on every input.
//
//   if (auto fast = read_png_fast(bytes, max_pixels)) use(*fast);
//   else ask_libpng(bytes);
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "runtime/data/cpu_budget.hpp"
#include "runtime/data/png_pixels.hpp"

namespace emnist {

/// The samples of a PNG of at most `max_pixels` (width x height) pixels,
/// or nullopt where this reader does not handle the file (see above) or
/// `budget` ran out. `file` must already start with PNG's signature.
[[nodiscard]] std::optional<png_pixels> read_png_fast(
    std::span<const std::byte> file, std::size_t max_pixels,
    const cpu_budget& budget = {});

}  // namespace emnist
