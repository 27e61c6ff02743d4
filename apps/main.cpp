// The `emnist` program: simulate a job locally, fetch the data, show the
// configuration. See README.md and `emnist --help`.
#include <CLI/CLI.hpp>
#include <iostream>

#include "apps/commands.hpp"
#include "model/sparse_kernels.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "emnist: trains an MLP on EMNIST with N replicas sharing their "
      "parameters (Downpour SGD).",
      "emnist"};
  app.set_version_flag("--version", "emnist 0.1.0");
  app.require_subcommand(1);
  app.fallthrough(false);
  emnist::cli::command run;
  emnist::cli::add_simulate_command(app, run);
  emnist::cli::add_status_command(app, run);
  emnist::cli::add_serve_command(app, run);
  emnist::cli::add_evaluate_command(app, run);
  emnist::cli::add_export_command(app, run);
  emnist::cli::add_predict_command(app, run);
  emnist::cli::add_data_command(app, run);
  emnist::cli::add_config_command(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return emnist::cli::exit_bad_input;
  }
  if (!run) return emnist::cli::exit_bad_input;
  if (auto k = emnist::kernels::select_isa_from_environment(); !k) {
    std::cerr << "emnist: " << k.error().message << '\n';
    return emnist::cli::exit_bad_input;
  }
  return run();
}
