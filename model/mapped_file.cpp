// mmap(2) behind an RAII object, with errors that name the file.
#include "model/mapped_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace emnist {
namespace {

error errno_error(const std::filesystem::path& file, const char* what, int e) {
  return make_error(e == ENOENT ? errc::not_found : errc::unavailable,
                    file.string() + ": " + what + ": " + std::strerror(e));
}

}  // namespace

expected<mapped_file> mapped_file::open(const std::filesystem::path& file) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error(file, "cannot open file", errno);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int e = errno;
    ::close(fd);
    return errno_error(file, "cannot stat", e);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(errc::invalid_argument,
                      file.string() + ": not a regular file");
  }
  const auto size = static_cast<std::size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return mapped_file{};
  }
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  const int e = errno;
  ::close(fd);  // the mapping keeps the file
  if (p == MAP_FAILED) return errno_error(file, "cannot map", e);
  return mapped_file(static_cast<std::uint8_t*>(p), size);
}

expected<mapped_file> mapped_file::anonymous(std::size_t size) {
  if (size == 0) return mapped_file{};
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return make_error(errc::unavailable,
                      "cannot reserve " + std::to_string(size) +
                          " bytes of memory: " + std::strerror(errno));
  }
  return mapped_file(static_cast<std::uint8_t*>(p), size);
}

expected<mapped_file> mapped_file::map_writable(
    int fd, std::size_t size, const std::filesystem::path& name) {
  if (size == 0) return mapped_file{};
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return errno_error(name, "cannot map", errno);
  return mapped_file(static_cast<std::uint8_t*>(p), size);
}

mapped_file::mapped_file(mapped_file&& other) noexcept
    : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}

mapped_file& mapped_file::operator=(mapped_file&& other) noexcept {
  if (this != &other) {
    reset();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

mapped_file::~mapped_file() {
  reset();
}

void mapped_file::reset() {
  if (data_ != nullptr) ::munmap(data_, size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace emnist
