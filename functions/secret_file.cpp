// Reading the token file: trimmed, and refused when it could not be one.
#include "functions/secret_file.hpp"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace emnist {

expected<std::string> load_secret(const std::string& path) {
  namespace fs = std::filesystem;
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_argument,
                      "http.secret_file: '" + path + "': " + why +
                          " (a secret that is there must be usable: the "
                          "server does not start open)");
  };
  std::error_code ec;
  const auto st = fs::status(path, ec);
  if (st.type() == fs::file_type::not_found) return std::string{};
  if (ec) return bad(ec.message());
  if (st.type() == fs::file_type::directory) return bad("a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return bad(std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return bad("cannot be read");
  std::string s = ss.str();
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) {
    s.pop_back();
  }
  std::size_t lead = 0;
  while (lead < s.size() && std::isspace(static_cast<unsigned char>(s[lead]))) {
    ++lead;
  }
  s.erase(0, lead);
  if (s.empty()) return bad("empty (or only white space)");
  for (const char c : s) {
    if (static_cast<unsigned char>(c) < 0x21 ||
        static_cast<unsigned char>(c) > 0x7e) {
      return bad(
          "holds a character a bearer token cannot (white space or "
          "a control or non-ASCII byte)");
    }
  }
  return s;
}

}  // namespace emnist
