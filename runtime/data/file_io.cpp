// POSIX reads with EINTR retried; errno mapped to what the caller should do.
#include "runtime/data/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

namespace emnist {

errc errno_code(int e) {
  switch (e) {
    case ENOENT:
    case ENOTDIR:
      return errc::not_found;
    case EIO:
      return errc::data_loss;
    case ENOSPC:
    case EDQUOT:
    case EAGAIN:
    case EINTR:
      return errc::unavailable;
    default:
      return errc::invalid_argument;
  }
}

error errno_error(const std::filesystem::path& file, std::string_view what,
                  int e) {
  return make_error(errno_code(e), file.string() + ": " + std::string(what) +
                                       ": " + std::strerror(e));
}

expected<void> read_file_chunks(
    const std::filesystem::path& file,
    const std::function<void(const unsigned char*, std::size_t)>& chunk) {
  constexpr std::size_t chunk_bytes = std::size_t{1} << 20;
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_error(file, "cannot open for reading", errno);
  std::vector<unsigned char> buf(chunk_bytes);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n == 0) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      const int e = errno;
      ::close(fd);
      return errno_error(file, "read failed", e);
    }
    chunk(buf.data(), static_cast<std::size_t>(n));
  }
  ::close(fd);
  return {};
}

}  // namespace emnist
