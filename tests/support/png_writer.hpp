// PNG files for the tests, written with libpng's simplified API: grey, RGB
// or RGBA pixels, row-major.
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

}  // namespace emnist::test
