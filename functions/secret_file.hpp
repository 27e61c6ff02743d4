// The functions' bearer token: the secret file OpenFaaS mounts
// (http.secret_file), read once at start.
//
//   auto token = load_secret(cfg.http.secret_file);
//   if (!token) return exit_with(token.error());  // names the path and why
//   // empty: no such file, no auth (a function without a secret)
#pragma once

#include <string>

#include "base/expected.hpp"

namespace emnist {

/// The bearer token in http.secret_file: empty when there is no such file
/// (no auth, as on a function without a secret). A file that is there but
/// empty, a directory, unreadable, or not a token is an error naming the
/// path and why: the server must not start open.
[[nodiscard]] expected<std::string> load_secret(const std::string& path);

}  // namespace emnist
