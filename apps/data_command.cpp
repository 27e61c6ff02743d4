// `emnist data fetch`: the official files of a split, sha256-verified.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "apps/commands.hpp"
#include "runtime/data/data_fetch.hpp"

namespace emnist::cli {
namespace {

struct fetch_command_options {
  std::string split = "bymerge";
  std::string dir;
  std::string url{default_archive_url};
  bool quiet = false;
};

int run_fetch(const fetch_command_options& o) {
  fetch_options opts;
  opts.split = o.split;
  opts.url = o.url;
  opts.progress = !o.quiet;
  if (!o.dir.empty()) {
    opts.dir = o.dir;
  } else if (const char* env = std::getenv("EMNIST_DIR"); env && *env) {
    opts.dir = env;
  } else {
    opts.dir = "data/emnist";
  }
  auto result = fetch_split(opts);
  if (!result) return report(result.error());
  if (!o.quiet) {
    for (const auto& f : result->present) {
      std::cerr << "emnist: " << f << ": present, checksum verified\n";
    }
    for (const auto& f : result->downloaded) {
      std::cerr << "emnist: " << f << ": downloaded, checksum verified\n";
    }
  }
  return exit_ok;
}

}  // namespace

void add_data_command(CLI::App& app, command& run) {
  auto* data = app.add_subcommand("data", "manage the EMNIST data files");
  data->require_subcommand(1);
  auto opts = std::make_shared<fetch_command_options>();
  auto* fetch = data->add_subcommand(
      "fetch",
      "download the official files of a split (HTTP range requests into "
      "NIST's gzip.zip), verify their sha256, skip files already present");
  fetch
      ->add_option("--split", opts->split,
                   "byclass, bymerge, balanced, letters, digits or mnist")
      ->capture_default_str();
  fetch->add_option("--data,-d", opts->dir,
                    "destination directory (default: $EMNIST_DIR, else "
                    "data/emnist)");
  fetch->add_option("--url", opts->url, "the release archive")
      ->capture_default_str();
  fetch->add_flag("--quiet,-q", opts->quiet, "no progress bar");
  fetch->callback([opts, &run] {
    run = [opts] {
      return run_fetch(*opts);
    };
  });
}

}  // namespace emnist::cli
