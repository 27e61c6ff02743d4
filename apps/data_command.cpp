// `emnist data fetch`: the official files of a split, sha256-verified.
// `emnist data cache`: the split's gzip files inflated into the cache that
// loads map (model/idx_cache.hpp), ahead of time: an image build does it
// once, so that no container inflates at start.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>

#include "apps/commands.hpp"
#include "model/data_files.hpp"
#include "model/idx_cache.hpp"
#include "runtime/data/data_fetch.hpp"

namespace emnist::cli {
namespace {

std::string data_dir_or_default(const std::string& dir) {
  if (!dir.empty()) return dir;
  if (const char* env = std::getenv("EMNIST_DIR"); env && *env) return env;
  return "data/emnist";
}

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
  opts.dir = data_dir_or_default(o.dir);
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

struct cache_command_options {
  std::string split = "bymerge";
  std::string dir;
  std::string cache_dir;
  bool quiet = false;
};

int run_cache(const cache_command_options& o) {
  const std::filesystem::path dir = data_dir_or_default(o.dir);
  idx_source_options options;
  // Asked for by name: made even in a data folder without write bits.
  options.cache_dirs = {{o.cache_dir.empty()
                             ? dir / ".cache"
                             : std::filesystem::path(o.cache_dir),
                         idx_cache_dir::kind::chosen}};
  std::size_t found = 0;
  for (const char* file : {"train", "test"}) {
    for (const bool images : {true, false}) {
      const auto path = idx_path(dir, o.split, file, images);
      if (!std::filesystem::exists(path)) continue;
      ++found;
      auto bytes = open_idx_bytes(path, options);
      if (bytes && !bytes->verify(0, bytes->bytes().size())) {
        auto again = options;
        again.ignore_cache = true;
        bytes = open_idx_bytes(path, again);
      }
      if (!bytes) return report(bytes.error());
      if (!o.quiet)
        std::cerr << "emnist: " << path.string() << ": " << bytes->note()
                  << "\n";
    }
  }
  if (found == 0) {
    return report(make_error(
        errc::not_found,
        dir.string() + ": no IDX file of the split '" + o.split + "'"));
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

  auto copts = std::make_shared<cache_command_options>();
  auto* cache = data->add_subcommand(
      "cache",
      "inflate the split's gzip files into the cache that loads map "
      "(data.cache_dir), checked; files already cached are only checked");
  cache
      ->add_option("--split", copts->split,
                   "byclass, bymerge, balanced, letters, digits or mnist")
      ->capture_default_str();
  cache->add_option("--data,-d", copts->dir,
                    "data directory (default: $EMNIST_DIR, else data/emnist)");
  cache->add_option("--cache-dir", copts->cache_dir,
                    "where to write the cache (default: DATA/.cache, which "
                    "loads read first by default)");
  cache->add_flag("--quiet,-q", copts->quiet, "print nothing but errors");
  cache->callback([copts, &run] {
    run = [copts] {
      return run_cache(*copts);
    };
  });
}

}  // namespace emnist::cli
