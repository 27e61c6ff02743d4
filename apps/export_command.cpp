// `emnist export --job J --out PATH`: a job's current parameters, read from
// its memcached pool, as a model file (.npz or .onnx by the extension).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "apps/commands.hpp"
#include "apps/config_options.hpp"
#include "jobs/job_model.hpp"
#include "runtime/data/model_io.hpp"

namespace emnist::cli {
namespace {

struct export_options {
  config_options config;
  std::string job;
  std::string out;
};

int run_export(const export_options& o) {
  auto cfg = o.config.load();
  if (!cfg) return report(cfg.error());
  if (!o.job.empty()) cfg->sync.job = o.job;
  // Before the store is read: a bad name fails at once.
  if (auto f = model_format_of(o.out); !f) {
    return report(make_error(f.error().code, "--out " + f.error().message));
  }
  auto m = read_job_model(*cfg);
  if (!m) return report(m.error());
  if (auto ok =
          label_from_mapping(*m, resolve_data_dir(o.config.data_dir, *cfg));
      !ok) {
    return report(ok.error());
  }
  if (auto ok = write_model(o.out, m->model); !ok) return report(ok.error());
  std::fprintf(
      stderr,
      "emnist: job '%s' (%u replica(s), best accuracy %.4f%s) "
      "written to %s\n",
      cfg->sync.job.c_str(), m->status.replicas, m->status.best_accuracy,
      m->status.reached ? ", target reached" : ", not done", o.out.c_str());
  return exit_ok;
}

}  // namespace

void add_export_command(CLI::App& app, command& run) {
  auto opts = std::make_shared<export_options>();
  auto* cmd = app.add_subcommand(
      "export",
      "write a job's current parameters from its memcached pool to a model "
      "file, as simulate --save-model does (labels from the data "
      "directory's mapping file)");
  opts->config.add_to(*cmd);
  cmd->add_option("--job", opts->job, "the job (default: sync.job)");
  cmd->add_option("--out", opts->out, "PATH.npz (numpy) or PATH.onnx (ONNX)")
      ->required();
  cmd->callback([opts, &run] {
    run = [opts] {
      return run_export(*opts);
    };
  });
}

}  // namespace emnist::cli
