// The subcommands of the `emnist` program. Each adds itself to the CLI11
// app and sets `run` to the code that runs when it was chosen.
//
// Exit status of every command: 0 success (simulate: target reached),
// 2 bad input (options, config, data), 3 target not reached, 1 other
// failures.
#pragma once

#include <functional>
#include <string>

#include "base/expected.hpp"

namespace CLI {
class App;
}

namespace emnist::cli {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_bad_input = 2;
inline constexpr int exit_not_reached = 3;

using command = std::function<int()>;

void add_simulate_command(CLI::App& app, command& run);
void add_data_command(CLI::App& app, command& run);
void add_config_command(CLI::App& app, command& run);
void add_status_command(CLI::App& app, command& run);
void add_serve_command(CLI::App& app, command& run);
void add_evaluate_command(CLI::App& app, command& run);
void add_export_command(CLI::App& app, command& run);
void add_predict_command(CLI::App& app, command& run);

/// Prints "emnist: <message>" on stderr and maps the error to an exit code.
int report(const error& e);

}  // namespace emnist::cli
