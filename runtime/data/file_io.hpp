// Small file helpers shared by the data fetch, the checksums and the model
// files: errno as an error that names the file, reading a file in chunks or
// whole, and writing one so that no reader ever sees half of it.
//
//   auto ok = emnist::read_file_chunks(path, [&](const unsigned char* p,
//                                               std::size_t n) { sum(p, n); });
//   if (!ok) report(ok.error().message);  // "path: read failed: ..."
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string_view>

#include "base/expected.hpp"

namespace emnist {

/// What the caller should do about an errno value.
errc errno_code(int e);

/// "<file>: <what>: <strerror(e)>" with errno_code(e).
error errno_error(const std::filesystem::path& file, std::string_view what,
                  int e);

/// Calls `chunk` with each piece of the file, in order (1 MiB at a time).
[[nodiscard]] expected<void> read_file_chunks(
    const std::filesystem::path& file,
    const std::function<void(const unsigned char*, std::size_t)>& chunk);

/// The whole file.
[[nodiscard]] expected<std::string> read_whole_file(
    const std::filesystem::path& file);

/// Writes `bytes` to `file` through a temporary file beside it, renamed
/// into place: never half a file at `file`.
[[nodiscard]] expected<void> write_file_atomically(
    const std::filesystem::path& file, std::string_view bytes);

}  // namespace emnist
