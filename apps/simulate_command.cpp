// `emnist simulate`: N replicas in this process on the configured store.
#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <functional>
#include <future>
#include <iostream>
#include <optional>
#include <thread>
#include <vector>

#include "apps/commands.hpp"
#include "apps/config_options.hpp"
#include "apps/progress_display.hpp"
#include "functions/summary_json.hpp"
#include "jobs/job_runner.hpp"
#include "jobs/simulation.hpp"
#include "model/data_files.hpp"
#include "model/mlp.hpp"
#include "runtime/data/data_fetch.hpp"
#include "runtime/data/model_file.hpp"
#include "runtime/data/model_io.hpp"
#include "runtime/net/json_text.hpp"

namespace emnist::cli {
namespace {

struct simulate_options {
  config_options config;
  bool json = false;
  bool quiet = false;
  bool fetch_missing = false;
  bool print_config = false;
  bool resume = false;
  bool create_only = false;
  std::vector<std::uint32_t> replicas_here;  ///< --replica: these only
  std::string save_model;  ///< --save-model: a .npz or .onnx path, or none
};

/// The run's final parameters as a model file, and their accuracy on the
/// evaluation samples (what `emnist evaluate` reports for the file).
expected<double> save_model(const std::string& path, const job_config& cfg,
                            const job_data& data,
                            const simulation_result& result) {
  saved_model m;
  m.shape = {data.features, static_cast<std::size_t>(cfg.model.hidden),
             data.classes};
  m.parameters = result.final_parameters;
  m.labels = class_labels(data.mapping, data.classes);
  if (auto ok = write_model(path, m); !ok) return ok.error();
  mlp_evaluator evaluator(m.shape, 1024);
  const auto correct =
      evaluator.count_correct(m.parameters, data.eval, 0, data.eval.size());
  return data.eval.size() == 0 ? 0.0
                               : static_cast<double>(correct) /
                                     static_cast<double>(data.eval.size());
}

/// Fetches the files of the split that are missing (`--fetch-missing`).
expected<void> fetch_if_missing(const std::filesystem::path& dir,
                                const job_config& cfg, bool progress) {
  std::vector<std::string> missing;
  for (const auto* sel : {&cfg.data.train, &cfg.data.eval}) {
    auto s = parse_slice(*sel);
    if (!s) return s.error();
    for (bool images : {true, false}) {
      const auto path = idx_path(dir, cfg.data.split, s->file, images);
      if (!std::filesystem::exists(path)) missing.push_back(path.filename());
    }
  }
  if (missing.empty()) return {};
  fetch_options opts;
  opts.dir = dir;
  opts.split = cfg.data.split;
  opts.progress = progress;
  std::cerr << "emnist: fetching the " << cfg.data.split << " split into "
            << dir.string() << "\n";
  auto fetched = fetch_split(opts);
  if (!fetched) return fetched.error();
  return {};
}

int run_simulate(const simulate_options& o) {
  auto cfg = o.config.load();
  if (!cfg) return report(cfg.error());
  // Before any training: a run must not end unable to save.
  if (!o.save_model.empty()) {
    if (auto f = model_format_of(o.save_model); !f) {
      return report(
          make_error(f.error().code, "--save-model " + f.error().message));
    }
  }
  // A job spread over processes is set up once, then joined.
  if (!o.replicas_here.empty() && !o.resume) {
    return report(make_error(errc::invalid_argument,
                             "--replica runs part of a job that other "
                             "processes train too: it needs --resume (set "
                             "the job up once with --create-only)"));
  }
  if (o.create_only && (o.resume || cfg->sync.store != store_kind::memcached)) {
    return report(make_error(
        errc::invalid_argument,
        o.resume ? "--create-only sets a job up afresh: not with --resume"
                 : "--create-only keeps the job in memcached for other "
                   "processes: set sync.store = \"memcached\""));
  }
  if (o.print_config) std::cerr << to_toml(*cfg) << "\n";
  const auto dir = resolve_data_dir(o.config.data_dir, *cfg);
  if (o.fetch_missing) {
    if (auto ok = fetch_if_missing(dir, *cfg, !o.quiet); !ok) {
      return report(ok.error());
    }
  }
  data_request request{dir, cfg->data.split, *parse_slice(cfg->data.train),
                       *parse_slice(cfg->data.eval),
                       idx_cache_dirs(cfg->data.cache_dir, dir)};
  // A process that trains some replicas of a job loads only their shards.
  if (!o.replicas_here.empty()) {
    request.only_shards = train_shards{
        o.replicas_here, static_cast<std::size_t>(cfg->train.replicas)};
  }
  auto data = load_job_data(request);
  if (!data) return report(data.error());
  if (!o.quiet) {
    std::fprintf(
        stderr,
        "emnist: %zu training samples (%s), %zu evaluation samples "
        "(%s), %zu classes, loaded in %.2f s (%s); %lld replica(s), "
        "store %s\n",
        data->train.size(), cfg->data.train.c_str(), data->eval.size(),
        cfg->data.eval.c_str(), data->classes, data->load_seconds,
        describe_sources(*data).c_str(),
        static_cast<long long>(cfg->train.replicas),
        cfg->sync.store == store_kind::memcached ? "memcached" : "memory");
  }
  progress_display display(stderr);
  job_runner runner(static_cast<std::size_t>(cfg->actors.scheduler_threads));
  std::promise<expected<simulation_result>> done;
  const std::shared_ptr<const job_data> borrowed(
      std::shared_ptr<const job_data>{}, &*data);  // lives until the end
  replicas_options here;
  here.start = o.resume ? job_start::resume : job_start::create;
  here.ids = o.replicas_here;
  here.prepare_only = o.create_only;
  const auto id = runner.start(
      *cfg, borrowed, here,
      [&](const progress_report& p) {
        if (!o.quiet) display.show(p);
      },
      [&done](expected<simulation_result> r) { done.set_value(std::move(r)); });
  // SIGINT or SIGTERM stops the job: the replicas push, save their
  // progress (memcached), and the summary says interrupted. A second
  // signal exits at once.
  std::atomic<int> signalled{0};
  boost::asio::io_context signals_io;
  boost::asio::signal_set signals(signals_io, SIGINT, SIGTERM);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int signal) {
        if (ec) return;
        if (signalled.exchange(signal) != 0) std::_Exit(128 + signal);
        std::fprintf(stderr,
                     "\nemnist: signal %d: stopping (push, save); again to "
                     "exit at once\n",
                     signal);
        runner.stop(id);
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);
  std::thread signal_thread([&signals_io] { signals_io.run(); });
  auto result = done.get_future().get();
  signals_io.stop();
  signal_thread.join();
  display.close();
  if (!result) return report(result.error());
  if (o.create_only) {
    if (o.json) {
      std::cout << readable_json(boost::json::object{{"job", cfg->sync.job},
                                                     {"created", true}})
                << std::endl;
    }
    if (!o.quiet) {
      std::fprintf(stderr, "emnist: job %s set up in the store\n",
                   cfg->sync.job.c_str());
    }
    return exit_ok;
  }
  const int interrupted_by = signalled.load();
  // The model is saved whatever the outcome (target, epochs, interrupt).
  std::optional<expected<double>> saved;
  if (!o.save_model.empty()) {
    saved = save_model(o.save_model, *cfg, *data, *result);
    if (!*saved) return report(saved->error());
  }
  if (o.json) {
    auto summary = summary_object(*result);
    if (saved) {
      summary["saved_model"] =
          boost::json::object{{"path", o.save_model}, {"accuracy", **saved}};
    }
    std::cout << readable_json(summary) << std::endl;
  }
  if (saved && !o.quiet) {
    std::fprintf(stderr, "emnist: model saved to %s (accuracy %.4f on %s)\n",
                 o.save_model.c_str(), **saved, cfg->data.eval.c_str());
  }
  if (!o.quiet) {
    if (result->reached) {
      std::fprintf(stderr,
                   "emnist: reached %.4f >= %.4f in %.3f s of training "
                   "(%llu samples, %.0f samples/s, %llu evaluations)\n",
                   result->accuracy, cfg->train.target_accuracy,
                   *result->seconds_to_target,
                   static_cast<unsigned long long>(result->samples),
                   result->samples_per_second,
                   static_cast<unsigned long long>(result->evaluations));
    } else {
      const std::string why =
          result->stop_reason == "max_seconds"
              ? "the time budget ran out (train.max_seconds = " +
                    std::to_string(cfg->train.max_seconds) + ")"
          : result->stop_reason == "interrupted"
              ? std::string("interrupted")
              : "every replica did its passes (train.max_epochs = " +
                    std::to_string(cfg->train.max_epochs) + ")";
      std::fprintf(
          stderr,
          "emnist: target %.4f not reached: accuracy %.4f after "
          "%.3f s and %llu evaluations; %s\n",
          cfg->train.target_accuracy, result->accuracy, result->seconds,
          static_cast<unsigned long long>(result->evaluations), why.c_str());
    }
  }
  if (interrupted_by != 0) return 128 + interrupted_by;  // 130, 143
  return result->reached ? exit_ok : exit_not_reached;
}

}  // namespace

void add_simulate_command(CLI::App& app, command& run) {
  auto opts = std::make_shared<simulate_options>();
  auto* cmd = app.add_subcommand(
      "simulate",
      "run N replicas in this process (local multi-actor simulation); exit "
      "0 when the target accuracy is reached, 3 when not, 2 on bad input");
  opts->config.add_to(*cmd);
  cmd->add_flag("--json", opts->json,
                "print a JSON summary on stdout at the end");
  cmd->add_flag("--quiet,-q", opts->quiet, "no progress on stderr");
  cmd->add_flag("--fetch-missing", opts->fetch_missing,
                "download the split's official files first when they are "
                "missing (needs internet)");
  cmd->add_flag("--resume", opts->resume,
                "go on with the job sync.job in memcached: its parameters "
                "and each replica's stored progress (refused when the "
                "job's settings differ); without it the job starts afresh "
                "(refused while a replica of it runs in another process)");
  cmd->add_option("--replica", opts->replicas_here,
                  "run only these replicas of the job (with --resume: join "
                  "a job in memcached that other processes train too)")
      ->delimiter(',');
  cmd->add_flag("--create-only", opts->create_only,
                "set the job up in the store and train nothing: processes "
                "then join it with --resume --replica ID");
  cmd->add_flag("--print-config", opts->print_config,
                "print the effective configuration on stderr");
  cmd->add_option("--save-model", opts->save_model,
                  "write the final parameters, whatever the outcome, to "
                  "PATH.npz (numpy: w1, w2, input_scale, labels, "
                  "pixel_order) or PATH.onnx (an ONNX graph, the labels in "
                  "its metadata)");
  cmd->callback([opts, &run] {
    run = [opts] {
      return run_simulate(*opts);
    };
  });
}

}  // namespace emnist::cli
