// An image for emnist predict and emnist-predict from any bytes: libpng's
// decoding, then EMNIST's form. What decodes is an image of the size it
// says; what is brought to EMNIST's form is 28x28.
#include <span>

#include "fuzz/fuzz_target.hpp"
#include "runtime/data/png_image.hpp"

EMNIST_FUZZ_TARGET(png) {
  using namespace emnist;
  // A small pixel budget: the fuzzer looks for wrong answers, not for
  // images that are merely large.
  auto image =
      decode_png(std::span(reinterpret_cast<const std::byte*>(data), size),
                 "fuzz.png", 1 << 20);
  if (!image) {
    fuzz::check(image.error().message.rfind("fuzz.png: ", 0) == 0,
                "an error names the file");
    return;
  }
  fuzz::check(image->width > 0 && image->height > 0 &&
                  image->pixels.size() == image->width * image->height,
              "the pixels fit the size");
  auto sample = to_emnist_sample(*image);
  fuzz::check(sample.has_value() || !sample.error().message.empty(),
              "a sample, or why not");
}
