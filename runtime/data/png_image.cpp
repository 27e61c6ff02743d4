// libpng's simplified read API: it handles every colour type and bit depth,
// and reports errors in `message` instead of longjmp-ing through our code.
#include "runtime/data/png_image.hpp"

#include <png.h>

#include <cstdint>
#include <vector>

namespace emnist {
namespace {

error bad(const std::string& name, const std::string& what) {
  return make_error(errc::invalid_argument, name + ": " + what);
}

/// Frees libpng's state however the read ends.
struct png_reading {
  png_image image{};
  png_reading() { image.version = PNG_IMAGE_VERSION; }
  ~png_reading() { png_image_free(&image); }
  png_reading(const png_reading&) = delete;
  png_reading& operator=(const png_reading&) = delete;
};

}  // namespace

expected<grey_image> decode_png(std::span<const std::byte> file,
                                const std::string& name,
                                std::size_t max_pixels) {
  if (file.size() < 8 ||
      png_sig_cmp(reinterpret_cast<png_const_bytep>(file.data()), 0, 8) != 0) {
    return bad(name,
               "not a PNG (the file does not start with PNG's "
               "signature)");
  }
  png_reading r;
  if (png_image_begin_read_from_memory(&r.image, file.data(), file.size()) ==
      0) {
    return bad(name, std::string("not a readable PNG: ") + r.image.message);
  }
  const std::size_t w = r.image.width, h = r.image.height;
  if (w == 0 || h == 0) return bad(name, "the image has zero size");
  if (w > max_pixels / h) {
    return bad(name, "too large: " + std::to_string(w) + "x" +
                         std::to_string(h) + " pixels, at most " +
                         std::to_string(max_pixels));
  }
  r.image.format = PNG_FORMAT_GA;
  std::vector<std::uint8_t> ga(PNG_IMAGE_SIZE(r.image));
  if (png_image_finish_read(&r.image, nullptr, ga.data(), 0, nullptr) == 0) {
    return bad(name,
               std::string("damaged or truncated PNG: ") + r.image.message);
  }
  // Transparent pixels take the shade that contrasts with the opaque ones.
  double opaque_sum = 0, weight = 0;
  for (std::size_t i = 0; i < w * h; ++i) {
    opaque_sum += static_cast<double>(ga[2 * i]) * ga[2 * i + 1];
    weight += ga[2 * i + 1];
  }
  const int under = weight > 0 && opaque_sum / weight < 128 ? 255 : 0;
  grey_image out{w, h, std::vector<std::uint8_t>(w * h)};
  for (std::size_t i = 0; i < w * h; ++i) {
    const int g = ga[2 * i], a = ga[2 * i + 1];
    out.pixels[i] =
        static_cast<std::uint8_t>((g * a + under * (255 - a) + 127) / 255);
  }
  return out;
}

}  // namespace emnist
