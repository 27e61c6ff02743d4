// A file mapped into memory, read-only, for as long as the object lives:
// how the data loader reads raw IDX files and its cache of inflated ones
// without copying them (the pages are the page cache's, shared by every
// process on the machine that maps the same file).
//
//   auto m =
//   emnist::mapped_file::open("emnist-bymerge-test-images-idx3-ubyte"); if (!m)
//   report(m.error().message);   // "<file>: cannot open: <strerror>"
//   std::span<const std::uint8_t> bytes = m->bytes();
//
// A mapped file that is changed in place changes under us (and one that is
// truncated faults, SIGBUS, on the next read past its new end): the cache
// (idx_cache.hpp) never changes a file in place, it renames a new one over
// it, which leaves this mapping as it was. Only an edit by hand does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>

#include "base/expected.hpp"

namespace emnist {

class mapped_file {
 public:
  /// Maps the whole of `file` read-only. An empty file maps to no bytes.
  [[nodiscard]] static expected<mapped_file> open(
      const std::filesystem::path& file);
  /// `size` bytes of fresh zeroed memory (no file), its pages made on
  /// first touch: where data is inflated when there is no cache to write.
  [[nodiscard]] static expected<mapped_file> anonymous(std::size_t size);
  /// Maps `size` bytes of the open descriptor `fd` (which stays the
  /// caller's) read-write and shared: writes reach the file.
  [[nodiscard]] static expected<mapped_file> map_writable(
      int fd, std::size_t size, const std::filesystem::path& name);

  mapped_file() = default;
  mapped_file(mapped_file&& other) noexcept;
  mapped_file& operator=(mapped_file&& other) noexcept;
  mapped_file(const mapped_file&) = delete;
  mapped_file& operator=(const mapped_file&) = delete;
  ~mapped_file();

  std::span<const std::uint8_t> bytes() const { return {data_, size_}; }
  std::uint8_t* data() { return data_; }
  std::size_t size() const { return size_; }

 private:
  mapped_file(std::uint8_t* data, std::size_t size)
      : data_(data), size_(size) {}
  void reset();

  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace emnist
