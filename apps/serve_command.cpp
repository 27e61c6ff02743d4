// `emnist serve`: the OpenFaaS functions over HTTP (runtime/http_server,
// functions/function_service), until SIGTERM or SIGINT.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "apps/commands.hpp"
#include "apps/config_options.hpp"
#include "functions/function_service.hpp"
#include "model/data_files.hpp"
#include "runtime/net/http_server.hpp"

namespace emnist::cli {
namespace {

struct serve_options {
  config_options config;
  std::string function;
};

int run_serve(const serve_options& o) {
  std::string which = o.function;
  if (which.empty()) {
    const char* env = std::getenv("EMNIST_FUNCTION");
    which = env != nullptr && *env != '\0' ? env : "all";
  }
  auto function = parse_function_name(which);
  if (!function) return report(function.error());
  const auto sources = o.config.sources();
  auto cfg = o.config.load();  // warnings once, at start
  if (!cfg) return report(cfg.error());
  // emnist-predict with a model file needs no store (?job= then says so).
  const bool file_predictor =
      *function == "predict" && !cfg->predict.model.empty();
  if (cfg->sync.store != store_kind::memcached && !file_predictor) {
    return report(
        make_error(errc::invalid_argument,
                   "serve: sync.store = \"memory\": the functions share a "
                   "job through memcached; set sync.store = \"memcached\" "
                   "and sync.servers"));
  }
  // Before the data: a bad secret fails at once.
  auto token = load_secret(cfg->http.secret_file);
  if (!token) return report(token.error());
  if (token->empty()) {
    std::fprintf(stderr,
                 "emnist: no bearer token (http.secret_file '%s' does not "
                 "exist): every route is open\n",
                 cfg->http.secret_file.c_str());
  }
  const auto dir = resolve_data_dir(o.config.data_dir, *cfg);
  data_request request{dir, cfg->data.split, *parse_slice(cfg->data.train),
                       *parse_slice(cfg->data.eval),
                       idx_cache_dirs(cfg->data.cache_dir, dir)};
  // emnist-predict trains and evaluates nothing: the split's labels are
  // all it needs of the data.
  const bool predict_only = *function == "predict";
  auto data = predict_only ? load_job_labels(request) : load_job_data(request);
  if (!data) return report(data.error());
  auto shared = std::make_shared<const job_data>(std::move(*data));

  function_service service(sources, *cfg, shared, *function, std::move(*token));
  if (auto ok = service.load_models(); !ok) return report(ok.error());
  http_server_options options;
  options.listen = cfg->http.listen;
  options.max_body_bytes = static_cast<std::size_t>(cfg->http.max_body_bytes);
  options.read_timeout = std::chrono::milliseconds(cfg->http.read_timeout_ms);
  options.io_threads =
      cfg->http.threads > 0
          ? static_cast<std::size_t>(cfg->http.threads)
          : std::max<std::size_t>(std::thread::hardware_concurrency(), 1);
  http_server server(options, [&service](http_request r, http_reply reply) {
    service.handle(std::move(r), std::move(reply));
  });
  auto port = server.start();
  if (!port) return report(port.error());
  if (predict_only) {
    std::fprintf(stderr,
                 "emnist: serving function '%s' on %s (port %u), no samples "
                 "loaded (%zu class labels)\n",
                 function->c_str(), cfg->http.listen.c_str(), *port,
                 shared->mapping.classes());
  } else {
    std::fprintf(stderr,
                 "emnist: serving function '%s' on %s (port %u), %zu training "
                 "samples loaded in %.2f s (%s)\n",
                 function->c_str(), cfg->http.listen.c_str(), *port,
                 shared->train.size(), shared->load_seconds,
                 describe_sources(*shared).c_str());
  }

  // Wait for SIGTERM (OpenFaaS, Kubernetes) or SIGINT.
  boost::asio::io_context signals_io;
  boost::asio::signal_set signals(signals_io, SIGTERM, SIGINT);
  int received = 0;
  signals.async_wait(
      [&](const boost::system::error_code&, int signal) { received = signal; });
  signals_io.run();

  // Stop taking work; running replicas push, save their progress and
  // answer; then the server closes.
  std::fprintf(stderr, "emnist: signal %d: shutting down within %lld s\n",
               received, static_cast<long long>(cfg->http.shutdown_seconds));
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::seconds(cfg->http.shutdown_seconds);
  service.begin_shutdown();
  const bool idle = service.wait_idle(deadline);
  service.finish_status_reads();  // they reply through the server
  server.stop(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(deadline - std::chrono::steady_clock::now(),
               std::chrono::steady_clock::duration::zero())));
  if (!idle) {
    std::fprintf(stderr,
                 "emnist: %zu call(s) still running after "
                 "http.shutdown_seconds: exiting anyway\n",
                 service.running());
    std::fflush(stderr);
    std::_Exit(exit_failure);
  }
  return exit_ok;
}

}  // namespace

void add_serve_command(CLI::App& app, command& run) {
  auto opts = std::make_shared<serve_options>();
  auto* cmd = app.add_subcommand(
      "serve",
      "serve the OpenFaaS functions over HTTP (http.listen) until SIGTERM: "
      "emnist-setup, emnist-train, emnist-predict, or all three with the "
      "gateway's routes");
  opts->config.add_to(*cmd);
  cmd->add_option("--function", opts->function,
                  "setup, train, predict or all (default: $EMNIST_FUNCTION, "
                  "else all)");
  cmd->callback([opts, &run] {
    run = [opts] {
      return run_serve(*opts);
    };
  });
}

}  // namespace emnist::cli
