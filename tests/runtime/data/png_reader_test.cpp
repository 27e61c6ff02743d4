// The two PNG readers against each other: png_fast_reader must read the
// files people send (OpenCV's, libpng's, every row filter) exactly as
// libpng does, and leave every other kind, and every damaged file, to
// libpng, which decodes it or says what is wrong.
#include <doctest/doctest.h>
#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "runtime/data/cpu_budget.hpp"
#include "runtime/data/file_io.hpp"
#include "runtime/data/png_chunks.hpp"
#include "runtime/data/png_fast_reader.hpp"
#include "runtime/data/png_image.hpp"
#include "runtime/data/png_stream.hpp"
#include "support/png_writer.hpp"
#include "test_support.hpp"

namespace emnist {
namespace {

std::string seed(const std::string& name) {
  auto file = read_whole_file(std::string(EMNIST_SOURCE_DIR) +
                              "/tests/fuzz/corpus/png/" + name);
  REQUIRE_MESSAGE(file.has_value(), name);
  return *file;
}

std::span<const std::byte> bytes(const std::string& s) {
  return std::as_bytes(std::span(s.data(), s.size()));
}

/// The fast reader reads `file`, and gives libpng's samples.
void check_read_fast(const std::string& file) {
  const auto fast = read_png_fast(bytes(file), default_max_png_pixels);
  REQUIRE(fast.has_value());
  const auto reference = read_png_with_libpng(bytes(file), "t.png");
  REQUIRE_MESSAGE(reference.has_value(), test::error_text(reference));
  CHECK(fast->width == reference->width);
  CHECK(fast->height == reference->height);
  CHECK(fast->colour == reference->colour);
  CHECK(fast->alpha == reference->alpha);
  CHECK(fast->samples == reference->samples);
}

/// Rewrites the CRC of the chunk whose data holds byte `at`, so that only
/// what the chunk says is wrong, not its checksum.
void fix_crc(std::string& file, std::size_t at) {
  std::size_t pos = 8;
  for (;;) {
    const std::uint32_t length =
        png_be32(reinterpret_cast<const std::byte*>(&file[pos]));
    if (at < pos + 8 + length) {
      // CRC-32 of type and data, as PNG and zlib use it.
      const auto crc = crc32(0, reinterpret_cast<const Bytef*>(&file[pos + 4]),
                             static_cast<uInt>(4 + length));
      for (int k = 0; k < 4; ++k) {
        file[pos + 8 + length + k] = static_cast<char>(crc >> (24 - 8 * k));
      }
      return;
    }
    pos += 12 + length;
  }
}

}  // namespace

TEST_CASE("png fast reader: reads what OpenCV and libpng write, as libpng") {
  // OpenCV's (the predict bench's photo, the canvas), and every filter of
  // every colour type the reader takes, in split IDATs beside text chunks.
  for (const char* name :
       {"grey.png", "rgb.png", "rgba.png", "photo.png", "grey-alpha.png",
        "filters-grey.png", "filters-grey-alpha.png", "filters-rgb.png",
        "filters-rgba.png", "srgb.png"}) {
    CAPTURE(name);
    check_read_fast(seed(name));
  }
  // libpng's own writer (which marks its files sRGB), at sizes whose rows
  // are not a round length.
  for (const std::size_t side : {1u, 7u, 33u}) {
    CAPTURE(side);
    std::vector<std::uint8_t> pixels(side * side * 4);
    for (std::size_t i = 0; i < pixels.size(); ++i) {
      pixels[i] = static_cast<std::uint8_t>(i * 37 + i / 5);
    }
    for (auto kind :
         {test::png_kind::grey, test::png_kind::rgb, test::png_kind::rgba}) {
      check_read_fast(test::png_bytes(side, side, kind, pixels));
    }
  }
  // Bytes after IEND are not the file's: libpng ignores them too.
  check_read_fast(seed("rgb.png") + "trailing bytes");
}

TEST_CASE("png fast reader: other kinds are libpng's to read") {
  // 16 bits, a palette, and a gamma that libpng applies.
  for (const char* name : {"grey16.png", "palette.png", "gamma.png"}) {
    CAPTURE(name);
    const std::string file = seed(name);
    CHECK_FALSE(read_png_fast(bytes(file), default_max_png_pixels));
    auto image = decode_png(bytes(file), name);
    REQUIRE_MESSAGE(image.has_value(), test::error_text(image));
    CHECK(image->width == 28);
    CHECK(to_emnist_sample(*image).has_value());
  }
  // Over the pixel budget: libpng's check says so.
  const std::string rgb = seed("rgb.png");
  CHECK_FALSE(read_png_fast(bytes(rgb), 28 * 28 - 1));
  auto large = decode_png(bytes(rgb), "big.png", 28 * 28 - 1);
  REQUIRE_FALSE(large.has_value());
  CHECK(large.error().message ==
        "big.png: too large: 28x28 pixels, at most 783");
}

TEST_CASE("png fast reader: a damaged file is left to libpng, which names it") {
  const std::string good = seed("filters-rgb.png");
  const std::size_t pixels_at = good.find("IDAT") + 4 + 40;
  // A byte of the pixels changed: the chunk's CRC no longer matches.
  std::string flipped = good;
  flipped[pixels_at] = static_cast<char>(flipped[pixels_at] ^ 0x5a);
  // The same with the CRC made right: the zlib stream itself is wrong.
  std::string deflate_damaged = flipped;
  fix_crc(deflate_damaged, pixels_at);
  // Cut short inside the pixels, and just before IEND.
  const std::string cut = good.substr(0, pixels_at);
  const std::string no_end = good.substr(0, good.size() - 12);
  for (const auto& [what, file] :
       {std::pair{"crc", flipped}, std::pair{"deflate", deflate_damaged},
        std::pair{"cut", cut}}) {
    CAPTURE(what);
    CHECK_FALSE(read_png_fast(bytes(file), default_max_png_pixels));
    auto image = decode_png(bytes(file), "bad.png");
    REQUIRE_FALSE(image.has_value());
    CHECK(image.error().message.rfind("bad.png: ", 0) == 0);
  }
  // A chunk that claims more than the file holds (here the text chunk
  // after IHDR, 2 GB): refused with its offset before libpng would
  // allocate what it claims.
  std::string claims = good;
  const std::size_t text_at = good.find("tEXt") - 4;
  REQUIRE(text_at == 33);
  claims[text_at] = '\x73';
  auto refused = decode_png(bytes(claims), "claims.png");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message ==
        "claims.png: damaged or truncated PNG: the chunk at byte 33 says it "
        "holds 1929379861 bytes, and the file has " +
            std::to_string(good.size() - 33 - 12) + " after its header");
  // Without IEND, the fast reader stops; libpng reads what is there: all
  // the pixels (only IEND is missing), the same as the intact file's.
  CHECK_FALSE(read_png_fast(bytes(no_end), default_max_png_pixels));
  const auto intact = decode_png(bytes(good), "good.png");
  REQUIRE_MESSAGE(intact.has_value(), test::error_text(intact));
  const auto read = decode_png(bytes(no_end), "t.png");
  REQUIRE_MESSAGE(read.has_value(), test::error_text(read));
  CHECK(read->width == intact->width);
  CHECK(read->height == intact->height);
  CHECK(read->pixels == intact->pixels);
}

TEST_CASE("png: a stream that inflates past its rows is refused after them") {
  // Decompression bombs: 28x28 images whose pixel stream inflates to
  // 256 MiB (260 KB of file). libpng inflated all of it, to find the
  // stream's end: 0.6 s of CPU for one request (1 GB: 2.6 s). Each reader
  // now stops at the rows the header declares, and the file is refused.
  struct bomb_case {
    const char* what;
    test::png_header header;
    std::uint64_t rows;  // the bytes its rows inflate to
  };
  const bomb_case cases[] = {
      {"8-bit grey (the fast reader's)", {28, 28, 8, 0, 0}, 28 * 29},
      {"8-bit RGBA (the fast reader's)", {28, 28, 8, 6, 0}, 28 * (1 + 112)},
      {"16-bit grey (libpng's)", {28, 28, 16, 0, 0}, 28 * (1 + 56)},
      {"a palette (libpng's)", {28, 28, 8, 3, 0}, 28 * 29},
      // Adam7's seven passes: rows x (a filter byte + their pixels).
      {"interlaced (libpng's)",
       {28, 28, 8, 0, 1},
       4 * 5 + 4 * 4 + 3 * 8 + 7 * 8 + 7 * 15 + 14 * 15 + 14 * 29},
  };
  for (const auto& c : cases) {
    CAPTURE(c.what);
    const std::string bomb = test::png_bomb(c.header, 256);
    CHECK(bomb.size() < 300'000);
    std::string ihdr_data = bomb.substr(16, 13);
    CHECK(png_inflated_size(bytes(ihdr_data)) == c.rows);
    const cpu_budget clock(std::chrono::hours(1));
    auto image = decode_png(bytes(bomb), "bomb.png");
    const auto spent = clock.used();
    REQUIRE_FALSE(image.has_value());
    CHECK(image.error().message ==
          "bomb.png: too much image data: the pixels inflate to more than "
          "the " +
              std::to_string(c.rows) +
              " bytes of its 28x28 rows (a decompression bomb, or a damaged "
              "file)");
    // The rows and a 32 KB buffer inflated, twice at most: far under a
    // millisecond, where the whole stream took over half a second.
    CHECK(spent < std::chrono::milliseconds(50));
    auto reference = read_png_with_libpng(bytes(bomb), "bomb.png");
    REQUIRE_FALSE(reference.has_value());
    CHECK(reference.error().message == image.error().message);
    CHECK_FALSE(read_png_fast(bytes(bomb), default_max_png_pixels));
  }
  // One byte to spare is more than the rows too; the rows alone read.
  const std::string rows(28 * 29, '\0');
  const auto zlib_of = [](const std::string& raw) {
    uLongf size = compressBound(static_cast<uLong>(raw.size()));
    std::string out(size, '\0');
    REQUIRE(compress(reinterpret_cast<Bytef*>(out.data()), &size,
                     reinterpret_cast<const Bytef*>(raw.data()),
                     static_cast<uLong>(raw.size())) == Z_OK);
    out.resize(size);
    return out;
  };
  const test::png_header grey{28, 28, 8, 0, 0};
  const std::string exact = test::png_with_stream(grey, zlib_of(rows));
  CHECK(read_png_fast(bytes(exact), default_max_png_pixels).has_value());
  CHECK(decode_png(bytes(exact), "exact.png").has_value());
  const std::string spare =
      test::png_with_stream(grey, zlib_of(rows + std::string(1, '\0')));
  auto refused = decode_png(bytes(spare), "spare.png");
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().message.find("too much image data") !=
        std::string::npos);
}

TEST_CASE("png: a decode stops once its CPU budget is spent") {
  // Both readers, the fast one ("rgb.png") and libpng ("grey16.png"). A
  // budget spent before the decode starts is the same as one spent inside
  // it, and does not depend on the machine's speed.
  for (const char* name : {"rgb.png", "grey16.png", "filters-rgba.png"}) {
    CAPTURE(name);
    const std::string file = seed(name);
    const cpu_budget budget(std::chrono::milliseconds(1));
    while (!budget.spent()) {
    }
    auto image =
        decode_png(bytes(file), "t.png", default_max_png_pixels, budget);
    REQUIRE_FALSE(image.has_value());
    CHECK(image.error().message ==
          "t.png: decoding took more than 1 ms of CPU, the most one image "
          "may take");
    // A budget not spent changes nothing.
    const cpu_budget ample(std::chrono::seconds(60));
    CHECK(decode_png(bytes(file), "t.png", default_max_png_pixels, ample)
              .has_value());
  }
}

TEST_CASE("png: what follows the pixels is not read, by choice") {
  // libpng's simplified API stops after the last row, and so does the
  // fast reader: a file without IEND, with a damaged IEND or with bytes
  // after it reads as the whole file does (docs/reliability.md). None of
  // them changes a pixel.
  for (const char* name : {"grey.png", "grey16.png"}) {
    CAPTURE(name);
    const std::string whole = seed(name);
    const auto expected = decode_png(bytes(whole), "t.png");
    REQUIRE(expected.has_value());
    REQUIRE(whole.substr(whole.size() - 8, 4) == "IEND");
    std::string bad_crc = whole;
    bad_crc.back() = static_cast<char>(bad_crc.back() ^ 0x01);
    for (const auto& [what, file] :
         {std::pair{"no IEND", whole.substr(0, whole.size() - 12)},
          std::pair{"IEND's CRC wrong", bad_crc},
          std::pair{"bytes after IEND", whole + "trailing bytes"}}) {
      CAPTURE(what);
      const auto image = decode_png(bytes(file), "t.png");
      REQUIRE_MESSAGE(image.has_value(), test::error_text(image));
      CHECK(image->pixels == expected->pixels);
    }
  }
}

}  // namespace emnist
