// Readers for the IDX files of the EMNIST release (the MNIST format),
// gzip-compressed or raw.
//
//   auto images =
//   emnist::read_idx_images("emnist-bymerge-test-images-idx3-ubyte.gz"); auto
//   labels =
//   emnist::read_idx_labels("emnist-bymerge-test-labels-idx1-ubyte.gz"); if
//   (!images) report(images.error().message);  // names file, offset, what was
//   expected
//
// IDX: a big-endian u32 magic (0x00000803 images, 0x00000801 labels), the
// dimensions as big-endian u32, then the uint8 payload. Byte offsets in
// errors count in the decompressed stream, as the format is defined there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/expected.hpp"
#include "model/mapped_file.hpp"

namespace emnist {

inline constexpr std::uint32_t idx_images_magic = 0x00000803;
inline constexpr std::uint32_t idx_labels_magic = 0x00000801;

struct idx_images {
  std::uint32_t count = 0;
  std::uint32_t rows = 0;
  std::uint32_t cols = 0;
  std::vector<std::uint8_t> pixels;  ///< count * rows * cols, image-major
};

/// The most an IDX file may inflate to: EMNIST's largest (ByClass training
/// images) is 550 MB. A gzip stream that inflates further is refused.
inline constexpr std::size_t idx_max_bytes = std::size_t{1} << 30;

/// `bytes` inflated when they start with the gzip magic, else as they are.
/// Errors name `name` and the compressed byte offset of a corruption.
[[nodiscard]] expected<std::vector<std::uint8_t>> decode_maybe_gzip(
    std::span<const std::uint8_t> bytes, const std::string& name,
    std::size_t max_bytes = idx_max_bytes);

/// The size a gzip stream's trailer announces, when `in` is gzip and the
/// size is possible (at most `max_bytes`, and what `in` can inflate to).
/// Only a claim: anyone can write a trailer (inflate_gzip_exact checks it).
[[nodiscard]] std::optional<std::size_t> gzip_inflated_size(
    std::span<const std::uint8_t> in, std::size_t max_bytes = idx_max_bytes);

/// Inflates the single gzip stream `in` into exactly `out` (libdeflate,
/// whole-buffer), checking its CRC-32 and size. False when the stream is
/// corrupt, is not one stream, or does not fill `out` exactly; then
/// decode_maybe_gzip reads it, and its error says where it breaks.
[[nodiscard]] bool inflate_gzip_exact(std::span<const std::uint8_t> in,
                                      std::span<std::uint8_t> out);

/// Bytes and what keeps them alive (a mapping, a buffer).
struct mapped_bytes {
  std::span<const std::uint8_t> bytes;
  std::shared_ptr<const void> owner;
};

/// A whole file, mapped read-only.
[[nodiscard]] expected<mapped_bytes> read_file_bytes(
    const std::filesystem::path& file);

/// Reads a whole file, inflating it when it starts with the gzip magic.
/// Errors name the file and the compressed byte offset of a corruption.
[[nodiscard]] expected<std::vector<std::uint8_t>> read_maybe_gzip(
    const std::filesystem::path& file);

/// Checks an IDX images header and that the payload is the size it says:
/// everything of parse_idx_images but the copy (`pixels` stays empty).
[[nodiscard]] expected<idx_images> check_idx_images(
    std::span<const std::uint8_t> bytes, const std::string& name);
/// Checks an IDX labels header and that the payload is the size it says.
[[nodiscard]] expected<void> check_idx_labels(
    std::span<const std::uint8_t> bytes, const std::string& name);

/// Parses IDX image data; `name` is used in error messages.
[[nodiscard]] expected<idx_images> parse_idx_images(
    std::span<const std::uint8_t> bytes, const std::string& name);
/// Parses IDX label data; `name` is used in error messages.
[[nodiscard]] expected<std::vector<std::uint8_t>> parse_idx_labels(
    std::span<const std::uint8_t> bytes, const std::string& name);

[[nodiscard]] expected<idx_images> read_idx_images(
    const std::filesystem::path& file);
[[nodiscard]] expected<std::vector<std::uint8_t>> read_idx_labels(
    const std::filesystem::path& file);

}  // namespace emnist
