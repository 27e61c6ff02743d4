// `emnist evaluate --model PATH`: a saved model on the evaluation samples
// (data.eval): accuracy, accuracy per class with the mapping's labels, and
// the pairs of classes it confuses most, as a table or JSON.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>
#include <tuple>

#include "apps/commands.hpp"
#include "apps/config_options.hpp"
#include "functions/summary_json.hpp"
#include "model/data_files.hpp"
#include "model/mlp.hpp"
#include "runtime/data/model_file.hpp"
#include "runtime/data/model_io.hpp"
#include "runtime/net/json_text.hpp"

namespace emnist::cli {
namespace {

struct evaluate_options {
  config_options config;
  std::string model;
  bool json = false;
  std::size_t top = 10;  ///< confused pairs shown
};

int run_evaluate(const evaluate_options& o) {
  auto cfg = o.config.load();
  if (!cfg) return report(cfg.error());
  auto model = read_model(o.model);
  if (!model) return report(model.error());
  const auto dir = resolve_data_dir(o.config.data_dir, *cfg);
  auto eval_slice = parse_slice(cfg->data.eval);
  if (!eval_slice) return report(eval_slice.error());
  // Only the evaluation samples matter: the training slice is the same.
  auto data = load_job_data({dir, cfg->data.split, *eval_slice, *eval_slice,
                             idx_cache_dirs(cfg->data.cache_dir, dir)});
  if (!data) return report(data.error());
  if (data->features != model->shape.inputs ||
      data->classes != model->shape.classes) {
    return report(make_error(
        errc::invalid_argument,
        o.model + ": a model of " + std::to_string(model->shape.inputs) +
            " inputs and " + std::to_string(model->shape.classes) +
            " classes; the " + cfg->data.split + " split has " +
            std::to_string(data->features) + " and " +
            std::to_string(data->classes)));
  }
  const std::size_t n = data->eval.size();
  std::vector<std::uint8_t> predicted(n);
  mlp_evaluator evaluator(model->shape, 1024);
  evaluator.predict(model->parameters, data->eval, 0, n, predicted);
  const std::size_t classes = model->shape.classes;
  std::vector<std::size_t> seen(classes, 0), right(classes, 0);
  std::vector<std::size_t> confused(classes * classes, 0);
  std::size_t correct = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t truth = data->eval.label(i);
    const std::size_t guess = predicted[i];
    if (truth >= classes || guess >= classes) continue;
    ++seen[truth];
    if (truth == guess) {
      ++right[truth];
      ++correct;
    } else {
      ++confused[truth * classes + guess];
    }
  }
  const double accuracy =
      n == 0 ? 0.0 : static_cast<double>(correct) / static_cast<double>(n);
  std::vector<std::tuple<std::size_t, std::size_t, std::size_t>> pairs;
  for (std::size_t t = 0; t < classes; ++t) {
    for (std::size_t g = 0; g < classes; ++g) {
      if (confused[t * classes + g] > 0) {
        pairs.emplace_back(confused[t * classes + g], t, g);
      }
    }
  }
  std::sort(pairs.begin(), pairs.end(), [](const auto& a, const auto& b) {
    return std::get<0>(a) > std::get<0>(b);
  });
  if (pairs.size() > o.top) pairs.resize(o.top);
  const auto& labels = model->labels;
  if (o.json) {
    boost::json::array per_class, worst;
    for (std::size_t c = 0; c < classes; ++c) {
      per_class.push_back(boost::json::object{
          {"class", c},
          {"label", labels[c]},
          {"samples", seen[c]},
          {"accuracy", seen[c] == 0 ? 0.0
                                    : static_cast<double>(right[c]) /
                                          static_cast<double>(seen[c])}});
    }
    for (const auto& [count, t, g] : pairs) {
      worst.push_back(boost::json::object{
          {"true", labels[t]}, {"predicted", labels[g]}, {"count", count}});
    }
    std::cout << readable_json(
                     boost::json::object{{"model", o.model},
                                         {"samples", n},
                                         {"accuracy", accuracy},
                                         {"per_class", std::move(per_class)},
                                         {"confused", std::move(worst)}})
              << std::endl;
    return exit_ok;
  }
  std::printf("%s on %s (%zu samples): accuracy %.4f\n", o.model.c_str(),
              cfg->data.eval.c_str(), n, accuracy);
  std::printf("%-6s %-6s %8s %9s\n", "class", "label", "samples", "accuracy");
  for (std::size_t c = 0; c < classes; ++c) {
    std::printf("%-6zu %-6s %8zu %9.4f\n", c, labels[c].c_str(), seen[c],
                seen[c] == 0 ? 0.0
                             : static_cast<double>(right[c]) /
                                   static_cast<double>(seen[c]));
  }
  std::printf("most confused (true -> predicted):\n");
  for (const auto& [count, t, g] : pairs) {
    std::printf("  %s -> %s  %zu\n", labels[t].c_str(), labels[g].c_str(),
                count);
  }
  return exit_ok;
}

}  // namespace

void add_evaluate_command(CLI::App& app, command& run) {
  auto opts = std::make_shared<evaluate_options>();
  auto* cmd = app.add_subcommand(
      "evaluate",
      "a saved model (simulate --save-model) on the evaluation samples "
      "(data.eval): accuracy, per class, and the most confused pairs");
  opts->config.add_to(*cmd);
  cmd->add_option("--model", opts->model, "the model file (.npz or .onnx)")
      ->required();
  cmd->add_option("--top", opts->top, "confused pairs to show (default 10)");
  cmd->add_flag("--json", opts->json, "print the report as JSON on stdout");
  cmd->callback([opts, &run] {
    run = [opts] {
      return run_evaluate(*opts);
    };
  });
}

}  // namespace emnist::cli
