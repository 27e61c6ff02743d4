// What a PNG's pixel stream (the IDAT chunks' zlib data) may inflate to:
// exactly its rows, one filter byte and the packed samples each (per
// Adam7 pass when interlaced), as its header declares them. libpng
// inflates whatever follows the last row too (to find the stream's end),
// so a 1 MB file whose stream inflates to 1 GB cost seconds of CPU for a
// 28x28 image. The check here inflates no further than the rows and one
// buffer beyond, and says whether the stream goes on.
//
//   auto size = png_inflated_size(ihdr_data);           // from IHDR
//   switch (check_png_stream(file, *size, budget)) { ... }
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "runtime/data/cpu_budget.hpp"

namespace emnist {

/// The bytes the rows of a PNG whose IHDR chunk holds `ihdr` (13 bytes)
/// inflate to; nullopt for a header PNG does not allow (libpng's to say).
[[nodiscard]] std::optional<std::uint64_t> png_inflated_size(
    std::span<const std::byte> ihdr);

enum class png_stream {
  fits,         ///< ends within the rows, or is damaged or cut: libpng's
  excess,       ///< inflates to more than the rows
  over_budget,  ///< the budget ran out first
};

/// Inflates the first run of IDAT chunks of `file` (what libpng reads),
/// stopping once it has more than `rows_bytes` (plus at most 32 KB) or the
/// budget is spent. `file` starts with PNG's signature, and its chunks are
/// whole (as png_image.cpp has checked).
[[nodiscard]] png_stream check_png_stream(std::span<const std::byte> file,
                                          std::uint64_t rows_bytes,
                                          const cpu_budget& budget);

}  // namespace emnist
