// SHA-256 digests, to verify downloaded and cached data files against the
// sums of the official release.
//
//   emnist::sha256 h;
//   h.update(chunk.data(), chunk.size());          // as often as needed
//   emnist::expected<std::string> hex = h.hex_digest();  // 64 lowercase digits
//
//   emnist::expected<std::string> sum = emnist::sha256_file("x.gz");
//   if (!sum) report(sum.error().message);  // names the file and the errno
//   text
//
// A thin wrapper over OpenSSL's EVP interface, which picks the fastest code
// the processor supports (SHA extensions, AVX2). OpenSSL types stay out of
// this header.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

#include "base/expected.hpp"

struct evp_md_ctx_st;  // OpenSSL's EVP_MD_CTX

namespace emnist {

/// An incremental SHA-256. Not thread-safe: one object per stream of bytes.
/// Movable, not copyable.
class sha256 {
 public:
  sha256() noexcept;
  ~sha256();
  sha256(sha256&& other) noexcept;
  sha256& operator=(sha256&& other) noexcept;
  sha256(const sha256&) = delete;
  sha256& operator=(const sha256&) = delete;

  /// Adds bytes to the digest.
  void update(std::span<const std::byte> bytes) noexcept;
  /// Adds `size` bytes at `data` to the digest.
  void update(const void* data, std::size_t size) noexcept;

  /// The digest of all bytes added since construction or the last call, as
  /// 64 lowercase hex digits; then starts over, so the object can be reused.
  /// Fails (errc::internal) only when OpenSSL failed, e.g. out of memory.
  [[nodiscard]] expected<std::string> hex_digest();

 private:
  void restart() noexcept;

  evp_md_ctx_st* ctx_ = nullptr;
  bool ok_ = false;  ///< false once an OpenSSL call failed
};

/// The SHA-256 of a byte buffer, as 64 lowercase hex digits.
[[nodiscard]] expected<std::string> sha256_hex(
    std::span<const std::byte> bytes);

/// The SHA-256 of a file's contents, as 64 lowercase hex digits. Errors name
/// the file: errc::not_found when it does not exist.
[[nodiscard]] expected<std::string> sha256_file(
    const std::filesystem::path& file);

}  // namespace emnist
