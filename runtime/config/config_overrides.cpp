// Request bodies (JSON or TOML) to --set style overrides and back.
#include "runtime/config/config_overrides.hpp"

#include <toml++/toml.h>

#include <boost/json.hpp>
#include <sstream>

#include "base/printable.hpp"

namespace emnist {
namespace {

/// An override is "key=value": a key with '=' in it cannot be one. The
/// first such key is kept in `bad` (nothing else names a config key).
void note_if_bad(const std::string& key, std::string& bad) {
  if (bad.empty() && key.find('=') != std::string::npos) bad = key;
}

void flatten_json(const boost::json::object& o, const std::string& prefix,
                  std::vector<std::string>& out, std::string& bad) {
  for (const auto& [k, v] : o) {
    const std::string key = prefix + std::string(k);
    note_if_bad(key, bad);
    if (v.is_object()) {
      flatten_json(v.as_object(), key + ".", out, bad);
    } else {
      // JSON strings, numbers, booleans and arrays are TOML values too.
      out.push_back(key + "=" + boost::json::serialize(v));
    }
  }
}

void flatten_toml(const toml::table& t, const std::string& prefix,
                  std::vector<std::string>& out, std::string& bad) {
  for (const auto& [k, v] : t) {
    const std::string key = prefix + std::string(k.str());
    note_if_bad(key, bad);
    if (const auto* sub = v.as_table()) {
      flatten_toml(*sub, key + ".", out, bad);
      continue;
    }
    std::ostringstream os;
    v.visit([&os](const auto& node) { os << node; });
    out.push_back(key + "=" + os.str());  // TOML syntax, strings quoted
  }
}

/// A dotted key as TOML: each part bare when it can be, else quoted (a
/// key the config does not know still reads back as the same words, for
/// load_config to name).
std::string toml_key(const std::string& key) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const auto dot = key.find('.', start);
    const std::string part = key.substr(start, dot - start);
    const bool bare =
        !part.empty() && part.find_first_not_of(
                             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                             "vwxyz0123456789_-") == std::string::npos;
    if (bare) {
      out += part;
    } else {
      std::ostringstream os;
      os << toml::value<std::string>(part);
      out += os.str();
    }
    if (dot == std::string::npos) return out;
    out += '.';
    start = dot + 1;
  }
}

bool is_blank(const std::string& s) {
  return s.find_first_not_of(" \t\r\n") == std::string::npos;
}

}  // namespace

expected<std::vector<std::string>> overrides_from_body(
    const std::string& body) {
  std::vector<std::string> out;
  std::string bad;
  const auto refuse_bad = [&]() -> expected<std::vector<std::string>> {
    if (bad.empty()) return out;
    return make_error(errc::invalid_argument,
                      "body: key '" + printable(bad) +
                          "': no configuration key has '=' in it");
  };
  if (is_blank(body)) return out;
  const auto first = body.find_first_not_of(" \t\r\n");
  if (body[first] == '{') {
    boost::system::error_code ec;
    auto v = boost::json::parse(body, ec);
    if (ec) {
      return make_error(errc::invalid_argument,
                        "body: not valid JSON: " + ec.message());
    }
    if (!v.is_object()) {
      return make_error(errc::invalid_argument,
                        "body: expected a JSON object of config sections");
    }
    flatten_json(v.as_object(), "", out, bad);
    return refuse_bad();
  }
  try {
    auto t = toml::parse(body);
    flatten_toml(t, "", out, bad);
  } catch (const toml::parse_error& e) {
    return make_error(errc::invalid_argument,
                      "body: neither a JSON object nor TOML: line " +
                          std::to_string(e.source().begin.line) + ": " +
                          std::string(e.description()));
  }
  return refuse_bad();
}

std::string overrides_to_toml(const std::vector<std::string>& overrides) {
  std::string out;
  for (const auto& o : overrides) {
    const auto eq = o.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = o.substr(0, eq);
    std::string value = o.substr(eq + 1);
    bool valid = true;
    try {
      (void)toml::parse("v = " + value);
    } catch (const toml::parse_error&) {
      valid = false;
    }
    if (!valid) {
      std::ostringstream os;
      os << toml::value<std::string>(value);
      value = os.str();
    }
    out += toml_key(key) + " = " + value + "\n";
  }
  return out;
}

}  // namespace emnist
