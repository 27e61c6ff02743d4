// The IDX reader on any bytes: gzip or raw, images and labels. Inflating
// is capped well below the real limit so that the fuzzer's memory limit
// is never the finding.
#include <span>

#include "fuzz/fuzz_target.hpp"
#include "model/idx_cache_format.hpp"
#include "model/idx_reader.hpp"

EMNIST_FUZZ_TARGET(idx) {
  using namespace emnist;
  // The same bytes as a cache file's header (model/idx_cache_format.hpp):
  // refused with a message, or whole (its chunks fit the file exactly).
  if (auto h = decode_cache_header(std::span(data, size), "cache"); h) {
    fuzz::check(h->payload_offset() + h->payload_bytes == size,
                "a cache file is its header and payload, nothing more");
  } else {
    fuzz::check(h.error().message.rfind("cache: ", 0) == 0,
                "a cache error names the file");
  }
  auto raw = decode_maybe_gzip(std::span(data, size), "fuzz.gz", 64u << 20);
  if (!raw) {
    fuzz::check(raw.error().message.rfind("fuzz.gz: ", 0) == 0,
                "a gzip error names the file");
    return false;
  }
  auto images = parse_idx_images(*raw, "images");
  if (images) {
    fuzz::check(images->pixels.size() ==
                    std::size_t{images->count} * images->rows * images->cols,
                "the pixels are count x rows x cols");
  } else {
    fuzz::check(images.error().message.rfind("images", 0) == 0,
                "an images error names the file");
  }
  auto labels = parse_idx_labels(*raw, "labels");
  if (!labels) {
    fuzz::check(labels.error().message.rfind("labels", 0) == 0,
                "a labels error names the file");
  }
  return images.has_value() || labels.has_value();
}
