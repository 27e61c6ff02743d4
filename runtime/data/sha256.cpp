// SHA-256 over OpenSSL EVP (see sha256.hpp).
#include "runtime/data/sha256.hpp"

#include <openssl/evp.h>

#include <utility>

#include "runtime/data/file_io.hpp"

namespace emnist {

namespace {

std::string to_hex(const unsigned char* bytes, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(2 * n, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[bytes[i] >> 4];
    out[2 * i + 1] = digits[bytes[i] & 0x0f];
  }
  return out;
}

}  // namespace

sha256::sha256() noexcept : ctx_(EVP_MD_CTX_new()) {
  restart();
}

sha256::~sha256() {
  EVP_MD_CTX_free(ctx_);
}

sha256::sha256(sha256&& other) noexcept
    : ctx_(std::exchange(other.ctx_, nullptr)),
      ok_(std::exchange(other.ok_, false)) {}

sha256& sha256::operator=(sha256&& other) noexcept {
  if (this != &other) {
    EVP_MD_CTX_free(ctx_);
    ctx_ = std::exchange(other.ctx_, nullptr);
    ok_ = std::exchange(other.ok_, false);
  }
  return *this;
}

void sha256::restart() noexcept {
  ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr) == 1;
}

void sha256::update(std::span<const std::byte> bytes) noexcept {
  update(bytes.data(), bytes.size());
}

void sha256::update(const void* data, std::size_t size) noexcept {
  if (ok_ && size > 0) ok_ = EVP_DigestUpdate(ctx_, data, size) == 1;
}

expected<std::string> sha256::hex_digest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const bool done = ok_ && EVP_DigestFinal_ex(ctx_, md, &len) == 1;
  restart();
  if (!done || len != 32)
    return make_error(errc::internal, "sha256: OpenSSL EVP digest failed");
  return to_hex(md, len);
}

expected<std::string> sha256_hex(std::span<const std::byte> bytes) {
  sha256 h;
  h.update(bytes);
  return h.hex_digest();
}

expected<std::string> sha256_file(const std::filesystem::path& file) {
  sha256 h;
  auto ok = read_file_chunks(
      file, [&](const unsigned char* p, std::size_t n) { h.update(p, n); });
  if (!ok) return ok.error();
  auto hex = h.hex_digest();
  if (!hex)
    return make_error(errc::internal,
                      file.string() + ": " + hex.error().message);
  return hex;
}

}  // namespace emnist
