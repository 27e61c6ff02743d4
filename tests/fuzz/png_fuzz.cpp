// An image for emnist predict and emnist-predict from any bytes: the PNG
// readers, then EMNIST's form. What decodes is an image of the size it
// says; what is brought to EMNIST's form is 28x28. And the fast reader is
// checked against libpng on every input: it never reads a file libpng
// refuses, and what it reads has libpng's samples, byte for byte.
//
// Each input is tried twice: as it is, and with every chunk's CRC made
// right. Most mutations of the pixels' zlib stream break its chunk's CRC,
// and both readers stop there; with the CRC mended, the fuzzer reaches the
// inflaters and filters with streams that are wrong in every other way.
#include <zlib.h>

#include <cstring>
#include <span>
#include <string>

#include "fuzz/fuzz_target.hpp"
#include "runtime/data/png_chunks.hpp"
#include "runtime/data/png_fast_reader.hpp"
#include "runtime/data/png_image.hpp"

namespace {

using namespace emnist;

/// Whether the file decodes.
bool check_readers(std::span<const std::byte> bytes) {
  // A small pixel budget: the fuzzer looks for wrong answers, not for
  // images that are merely large.
  constexpr std::size_t max_pixels = 1 << 20;
  auto image = decode_png(bytes, "fuzz.png", max_pixels);
  const auto reference = read_png_with_libpng(bytes, "fuzz.png", max_pixels);
  fuzz::check(image.has_value() == reference.has_value(),
              "decode_png and libpng agree on whether the file reads");
  if (bytes.size() >= png_signature_size &&
      std::memcmp(bytes.data(), "\x89PNG\r\n\x1a\n", 8) == 0) {
    if (const auto fast = read_png_fast(bytes, max_pixels)) {
      fuzz::check(reference.has_value(),
                  "the fast reader reads only what libpng reads");
      fuzz::check(fast->width == reference->width &&
                      fast->height == reference->height &&
                      fast->colour == reference->colour &&
                      fast->alpha == reference->alpha &&
                      fast->samples == reference->samples,
                  "the fast reader gives libpng's samples");
    }
  }
  if (!image) {
    fuzz::check(image.error().message.rfind("fuzz.png: ", 0) == 0,
                "an error names the file");
    fuzz::check(image.error().message == reference.error().message,
                "an error is libpng's own");
    return false;
  }
  fuzz::check(image->width > 0 && image->height > 0 &&
                  image->pixels.size() == image->width * image->height,
              "the pixels fit the size");
  auto sample = to_emnist_sample(*image);
  fuzz::check(sample.has_value() || !sample.error().message.empty(),
              "a sample, or why not");
  return true;
}

/// The same bytes with each whole chunk's CRC computed afresh (zlib's
/// CRC-32, which PNG uses).
std::string with_crcs_mended(std::span<const std::byte> bytes) {
  std::string out(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::size_t pos = png_signature_size;
  while (const auto chunk = png_chunk_at(bytes, pos)) {
    pos = chunk->end();
    const auto crc =
        crc32(0, reinterpret_cast<const Bytef*>(chunk->type.data()),
              static_cast<uInt>(4 + chunk->data.size()));
    const std::size_t at = chunk->end() - 4;
    for (std::size_t k = 0; k < 4; ++k) {
      out[at + k] = static_cast<char>(crc >> (24 - 8 * k));
    }
  }
  return out;
}

}  // namespace

EMNIST_FUZZ_TARGET(png) {
  const auto bytes = std::span(reinterpret_cast<const std::byte*>(data), size);
  const bool accepted = check_readers(bytes);
  const std::string mended = with_crcs_mended(bytes);
  check_readers(std::as_bytes(std::span(mended.data(), mended.size())));
  return accepted;
}
