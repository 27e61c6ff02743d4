// Shared option handling of the job commands.
#include "apps/config_options.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

namespace emnist::cli {

void config_options::add_to(CLI::App& cmd) {
  cmd.add_option("--config,-c", file,
                 "TOML config file (see config/default.toml); built-in "
                 "defaults when absent")
      ->check(CLI::ExistingFile);
  cmd.add_option("--set,-s", overrides,
                 "override a key: --set train.replicas=3 (value read as TOML, "
                 "else as a string); repeatable")
      ->take_all();
  cmd.add_option("--data,-d", data_dir,
                 "EMNIST data directory (default: data.dir, else $EMNIST_DIR, "
                 "else data/emnist)");
}

config_sources config_options::sources() const {
  config_sources src;
  if (!file.empty()) src.file = file;
  src.overrides = overrides;
  src.environment = environment_from_process();
  return src;
}

expected<job_config> config_options::load() const {
  std::vector<std::string> warnings;
  auto src = sources();
  src.warnings = &warnings;
  auto cfg = load_config(src);
  for (const auto& w : warnings) std::cerr << "emnist: warning: " << w << '\n';
  return cfg;
}

std::filesystem::path resolve_data_dir(const std::string& option,
                                       const job_config& cfg) {
  if (!option.empty()) return option;
  if (!cfg.data.dir.empty()) return cfg.data.dir;
  if (const char* env = std::getenv("EMNIST_DIR"); env && *env) return env;
  return "data/emnist";
}

}  // namespace emnist::cli
