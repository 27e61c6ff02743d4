// POSIX reads with EINTR retried; errno mapped to what the caller should do.
#include "runtime/data/file_io.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
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

expected<std::string> read_whole_file(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return errno_error(file, "cannot open", errno);
  std::string bytes((std::istreambuf_iterator<char>(in)),
                    std::istreambuf_iterator<char>());
  if (in.bad()) return errno_error(file, "read failed", errno);
  return bytes;
}

expected<void> write_file_atomically(const std::filesystem::path& file,
                                     std::string_view bytes) {
  auto temporary = file;
  temporary += ".partial";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return errno_error(temporary, "cannot create", errno);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out.flush()) {
      const int e = errno;
      std::error_code ignored;
      std::filesystem::remove(temporary, ignored);
      return errno_error(temporary, "write failed", e);
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, file, ec);
  if (ec) {
    std::filesystem::remove(temporary, ec);
    return make_error(errc::unavailable,
                      file.string() + ": cannot rename into place");
  }
  return {};
}

}  // namespace emnist
