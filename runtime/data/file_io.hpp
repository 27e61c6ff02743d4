// Small file helpers shared by the data fetch and the checksums: errno as an
// error that names the file, and reading a file in chunks.
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

}  // namespace emnist
