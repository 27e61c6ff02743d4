// The configuration from any bytes: the first line is a --set override,
// the rest a TOML file; and the whole input as the body of a setup or
// train call. What loads prints back (to_toml) to a file that loads the
// same.
#include <unistd.h>

#include <fstream>
#include <string>

#include "fuzz/fuzz_target.hpp"
#include "runtime/config/config.hpp"
#include "runtime/config/config_overrides.hpp"

namespace {

std::string scratch_file() {
  return "/tmp/emnist-fuzz-config-" + std::to_string(::getpid()) + ".toml";
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

}  // namespace

EMNIST_FUZZ_TARGET(config) {
  using namespace emnist;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const auto nl = input.find('\n');
  const std::string first = input.substr(0, nl);
  const std::string rest =
      nl == std::string::npos ? std::string() : input.substr(nl + 1);

  const std::string path = scratch_file();
  write_file(path, rest);
  std::vector<std::string> warnings;
  config_sources sources;
  sources.file = path;
  sources.overrides = {first};
  sources.warnings = &warnings;
  auto cfg = load_config(sources);
  bool accepted = cfg.has_value();
  if (cfg) {
    const std::string printed = to_toml(*cfg);
    write_file(path, printed);
    config_sources again;
    again.file = path;
    auto back = load_config(again);
    fuzz::check(back.has_value(), "a printed config loads");
    fuzz::check(to_toml(*back) == printed, "a printed config loads the same");
  } else {
    const auto& m = cfg.error().message;
    fuzz::check(m.find(path) != std::string::npos || m.rfind("--set ", 0) == 0,
                "a config error names the file or the --set");
  }
  ::unlink(path.c_str());

  // The body of an HTTP call, turned into overrides, then loaded.
  // Printed as TOML (as a setup hands them to its trains) and read back,
  // they make the same config, or fail the same way.
  auto overrides = overrides_from_body(input);
  if (overrides) {
    config_sources from_body;
    from_body.overrides = *overrides;
    auto direct = load_config(from_body);
    accepted = accepted || direct.has_value();
    auto back = overrides_from_body(overrides_to_toml(*overrides));
    fuzz::check(back.has_value(), "overrides printed as TOML read back");
    from_body.overrides = *back;
    auto printed = load_config(from_body);
    fuzz::check(direct.has_value() == printed.has_value() &&
                    (!direct || to_toml(*direct) == to_toml(*printed)),
                "overrides printed as TOML make the same config");
  }
  return accepted;
}
