#include "support/png_writer.hpp"

#include <png.h>
#include <zlib.h>

#include <algorithm>
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

namespace emnist::test {
namespace {

void put_be32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

void put_chunk(std::string& out, const char* type, const std::string& data) {
  put_be32(out, static_cast<std::uint32_t>(data.size()));
  const std::string typed = std::string(type, 4) + data;
  out += typed;
  put_be32(out, static_cast<std::uint32_t>(
                    crc32(0, reinterpret_cast<const Bytef*>(typed.data()),
                          static_cast<uInt>(typed.size()))));
}

/// Raw deflate of `in` (no zlib header) with `flush`, from the state `z`
/// is in.
std::string deflate_some(z_stream& z, const std::string& in, int flush) {
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  std::string buf(64 * 1024, '\0');
  do {
    z.next_out = reinterpret_cast<Bytef*>(buf.data());
    z.avail_out = static_cast<uInt>(buf.size());
    if (deflate(&z, flush) == Z_STREAM_ERROR) {
      throw std::runtime_error("zlib: deflate failed");
    }
    out.append(buf.data(), buf.size() - z.avail_out);
  } while (z.avail_out == 0);
  return out;
}

}  // namespace

std::string zeros_zlib_stream(std::size_t mib) {
  z_stream z{};
  if (deflateInit2(&z, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("zlib: deflateInit2 failed");
  }
  const std::string zeros(1 << 20, '\0');
  // 0x78 0xda: deflate, a 32 KiB window, the best compression.
  std::string out = "\x78\xda";
  const std::string first = deflate_some(z, zeros, Z_FULL_FLUSH);
  // Each MiB after the first starts from the same state: the same bytes.
  const std::string next = mib > 1 ? deflate_some(z, zeros, Z_FULL_FLUSH) : "";
  out += first;
  for (std::size_t i = 1; i < mib; ++i) out += next;
  out += deflate_some(z, "", Z_FINISH);
  deflateEnd(&z);
  // Adler-32 of zeros: A stays 1, B counts the bytes (mod 65521).
  const std::uint64_t n = static_cast<std::uint64_t>(mib) << 20;
  put_be32(out, static_cast<std::uint32_t>((n % 65521) << 16 | 1));
  return out;
}

std::string png_with_stream(const png_header& h, const std::string& zlib_stream,
                            std::size_t idat_bytes) {
  std::string out = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put_be32(ihdr, h.width);
  put_be32(ihdr, h.height);
  ihdr += {static_cast<char>(h.depth), static_cast<char>(h.colour_type), 0, 0,
           static_cast<char>(h.interlace)};
  put_chunk(out, "IHDR", ihdr);
  if (h.colour_type == 3) put_chunk(out, "PLTE", std::string(3, '\0'));
  for (std::size_t at = 0; at < zlib_stream.size(); at += idat_bytes) {
    put_chunk(out, "IDAT", zlib_stream.substr(at, idat_bytes));
  }
  put_chunk(out, "IEND", "");
  return out;
}

std::string png_bomb(const png_header& header, std::size_t mib) {
  return png_with_stream(header, zeros_zlib_stream(mib));
}

}  // namespace emnist::test
