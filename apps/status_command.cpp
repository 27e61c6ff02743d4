// `emnist status --job J`: a job's progress, read from its store alone
// (the metadata and every replica's progress record), as a table or JSON.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "apps/commands.hpp"
#include "apps/config_options.hpp"
#include "jobs/job_lifecycle.hpp"
#include "jobs/job_status_json.hpp"
#include "jobs/store_config.hpp"
#include "runtime/store/store_factory.hpp"

namespace emnist::cli {
namespace {

struct status_options {
  config_options config;
  std::string job;
  bool json = false;
};

std::string accuracy_text(double a) {
  if (a < 0) return "-";
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.4f", a);
  return buf;
}

void print_table(const std::string& job, const job_status& s,
                 std::int64_t now_ms) {
  std::printf(
      "job '%s' (metadata hash %s): %u replica(s), best accuracy %s%s\n",
      job.c_str(), s.meta.hash.c_str(), s.replicas,
      accuracy_text(s.best_accuracy).c_str(),
      s.reached ? ", target reached" : "");
  std::printf("%-8s %8s %10s %12s %9s %9s %14s  %s\n", "replica", "epochs",
              "steps", "samples", "accuracy", "best", "heartbeat", "state");
  for (std::size_t i = 0; i < s.records.size(); ++i) {
    const auto& r = s.records[i];
    if (!r) {
      std::printf("%-8zu %8s %10s %12s %9s %9s %14s  %s\n", i, "-", "-", "-",
                  "-", "-", "-", "no progress yet");
      continue;
    }
    char age[32];
    std::snprintf(age, sizeof age, "%.1f s ago",
                  static_cast<double>(now_ms - r->heartbeat_ms) / 1000.0);
    std::printf("%-8zu %8llu %10llu %12llu %9s %9s %14s  %s\n", i,
                static_cast<unsigned long long>(r->epochs),
                static_cast<unsigned long long>(r->steps),
                static_cast<unsigned long long>(r->samples),
                accuracy_text(r->accuracy).c_str(),
                accuracy_text(r->best_accuracy).c_str(), age,
                r->done ? "done" : "training");
  }
}

int run_status(const status_options& o) {
  auto cfg = o.config.load();
  if (!cfg) return report(cfg.error());
  if (!o.job.empty()) cfg->sync.job = o.job;
  if (cfg->sync.store != store_kind::memcached) {
    return report(make_error(
        errc::invalid_argument,
        "status reads a job from memcached: set sync.store = \"memcached\" "
        "and sync.servers (the embedded store lives only inside a running "
        "simulate)"));
  }
  auto store = make_store(store_options_of(*cfg, mlp_shape{}), 0);
  if (!store) return report(store.error());
  auto status = read_job_status(*store->records, cfg->sync.job);
  if (!status) return report(status.error());
  const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
  if (o.json) {
    std::cout << job_status_json(cfg->sync.job, *status, now_ms) << std::endl;
  } else {
    print_table(cfg->sync.job, *status, now_ms);
  }
  return exit_ok;
}

}  // namespace

void add_status_command(CLI::App& app, command& run) {
  auto opts = std::make_shared<status_options>();
  auto* cmd = app.add_subcommand(
      "status",
      "show a job's progress from its store (metadata and every replica's "
      "progress record); exit 0, 2 on bad input, 1 when the store fails");
  opts->config.add_to(*cmd);
  cmd->add_option("--job", opts->job, "the job (default: sync.job)");
  cmd->add_flag("--json", opts->json, "print JSON instead of a table");
  cmd->callback([opts, &run] {
    run = [opts] {
      return run_status(*opts);
    };
  });
}

}  // namespace emnist::cli
