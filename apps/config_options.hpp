// The options every job command shares: --config, --set, --data, and how
// they resolve into a job_config and a data directory.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "runtime/config/config.hpp"

namespace CLI {
class App;
}

namespace emnist::cli {

struct config_options {
  std::string file;
  std::vector<std::string> overrides;
  std::string data_dir;

  /// Adds --config, --set and --data to `cmd`.
  void add_to(CLI::App& cmd);
  /// The file (if any), the environment and the overrides.
  [[nodiscard]] config_sources sources() const;
  /// Loads them.
  [[nodiscard]] expected<job_config> load() const;
};

/// --data, else data.dir, else EMNIST_DIR, else data/emnist.
std::filesystem::path resolve_data_dir(const std::string& option,
                                       const job_config& cfg);

}  // namespace emnist::cli
