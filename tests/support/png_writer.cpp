#include "support/png_writer.hpp"

#include <png.h>

#include <stdexcept>

namespace emnist::test {

std::string png_bytes(std::size_t width, std::size_t height, png_kind kind,
                      const std::vector<std::uint8_t>& pixels) {
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  image.width = static_cast<png_uint_32>(width);
  image.height = static_cast<png_uint_32>(height);
  image.format = kind == png_kind::grey  ? PNG_FORMAT_GRAY
                 : kind == png_kind::rgb ? PNG_FORMAT_RGB
                                         : PNG_FORMAT_RGBA;
  png_alloc_size_t size = 0;
  if (png_image_write_get_memory_size(image, size, 0, pixels.data(), 0,
                                      nullptr) == 0) {
    throw std::runtime_error(std::string("png: ") + image.message);
  }
  std::string out(size, '\0');
  if (png_image_write_to_memory(&image, out.data(), &size, 0, pixels.data(), 0,
                                nullptr) == 0) {
    throw std::runtime_error(std::string("png: ") + image.message);
  }
  out.resize(size);
  return out;
}

}  // namespace emnist::test
