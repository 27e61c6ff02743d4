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
  // Read in the file's own colour layout, 8 bits a channel: asking libpng
  // to make grey of colour runs its gamma-correct conversion, ten times
  // slower than the luma sum below.
  const bool colour = (r.image.format & PNG_FORMAT_FLAG_COLOR) != 0;
  const bool alpha = (r.image.format & PNG_FORMAT_FLAG_ALPHA) != 0;
  r.image.format = (colour ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY) |
                   (alpha ? PNG_FORMAT_FLAG_ALPHA : 0u);
  const std::size_t channels = PNG_IMAGE_PIXEL_CHANNELS(r.image.format);
  std::vector<std::uint8_t> raw(PNG_IMAGE_SIZE(r.image));
  if (png_image_finish_read(&r.image, nullptr, raw.data(), 0, nullptr) == 0) {
    return bad(name,
               std::string("damaged or truncated PNG: ") + r.image.message);
  }
  grey_image out{w, h, std::vector<std::uint8_t>(w * h)};
  std::vector<std::uint8_t> opacity(alpha ? w * h : 0);
  for (std::size_t i = 0; i < w * h; ++i) {
    const std::uint8_t* p = &raw[i * channels];
    // Rec. 601 luma in integers (weights out of 256).
    out.pixels[i] = colour ? static_cast<std::uint8_t>(
                                 (77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8)
                           : p[0];
    if (alpha) opacity[i] = p[channels - 1];
  }
  if (!alpha) return out;
  // Transparent pixels take the shade that contrasts with the opaque ones.
  double opaque_sum = 0, weight = 0;
  for (std::size_t i = 0; i < w * h; ++i) {
    opaque_sum += static_cast<double>(out.pixels[i]) * opacity[i];
    weight += opacity[i];
  }
  const int under = weight > 0 && opaque_sum / weight < 128 ? 255 : 0;
  for (std::size_t i = 0; i < w * h; ++i) {
    const int g = out.pixels[i], a = opacity[i];
    out.pixels[i] =
        static_cast<std::uint8_t>((g * a + under * (255 - a) + 127) / 255);
  }
  return out;
}

}  // namespace emnist
