// `emnist config`: the effective configuration, or the documented keys.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "apps/commands.hpp"
#include "apps/config_options.hpp"

namespace emnist::cli {
namespace {

struct config_command_options {
  config_options config;
  bool keys = false;
};

int run_config(const config_command_options& o) {
  if (o.keys) {
    // scope: what a request to the functions may set (job), or only
    // whoever runs the process (deployment).
    std::printf("%-26s %-10s %-8s %-14s %s\n", "key", "scope", "type",
                "default", "meaning");
    for (const auto& k : config_keys()) {
      std::printf("%-26s %-10s %-8s %-14s %s\n", k.path.c_str(),
                  k.scope.c_str(), k.type.c_str(), k.default_value.c_str(),
                  k.help.c_str());
    }
    std::printf("\nenvironment aliases (the prototype's names):\n");
    for (const auto& [name, key] : environment_aliases()) {
      std::printf("  %-20s -> %s\n", name.c_str(), key.c_str());
    }
    return exit_ok;
  }
  auto cfg = o.config.load();
  if (!cfg) return report(cfg.error());
  std::cout << to_toml(*cfg);
  return exit_ok;
}

}  // namespace

void add_config_command(CLI::App& app, command& run) {
  auto opts = std::make_shared<config_command_options>();
  auto* cmd = app.add_subcommand(
      "config",
      "print the effective configuration as TOML (after --config, the "
      "environment aliases and --set), or with --keys every key");
  opts->config.add_to(*cmd);
  cmd->add_flag("--keys", opts->keys,
                "list every key with its type, default and meaning");
  cmd->callback([opts, &run] {
    run = [opts] {
      return run_config(*opts);
    };
  });
}

}  // namespace emnist::cli
