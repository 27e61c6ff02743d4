// `emnist predict --model PATH IMAGE...`: what a saved model says about PNG
// images of single characters, drawn upright on a light or dark
// background; the top classes of each, as text or one JSON line an image.
#include <CLI/CLI.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <iostream>

#include "apps/commands.hpp"
#include "functions/prediction.hpp"
#include "functions/summary_json.hpp"
#include "runtime/data/file_io.hpp"
#include "runtime/data/model_io.hpp"
#include "runtime/data/png_image.hpp"
#include "runtime/net/json_text.hpp"

namespace emnist::cli {
namespace {

struct predict_options {
  std::string model;
  std::vector<std::string> images;
  bool json = false;
  std::size_t top = 5;
};

int run_predict(const predict_options& o) {
  auto model = read_model(o.model);
  if (!model) return report(model.error());
  if (model->shape.inputs != emnist_side * emnist_side) {
    return report(make_error(errc::invalid_argument,
                             o.model + ": a model of " +
                                 std::to_string(model->shape.inputs) +
                                 " inputs; images are 28x28 (784)"));
  }
  int status = exit_ok;
  for (const auto& path : o.images) {
    auto bytes = read_whole_file(path);
    auto sample =
        bytes ? sample_of_png(
                    std::as_bytes(std::span(bytes->data(), bytes->size())),
                    path, default_max_png_pixels)
              : expected<emnist_sample>(bytes.error());
    if (!sample) {
      // The others are still predicted; the exit status tells.
      status = report(sample.error());
      if (o.json) {
        std::cout << readable_json(boost::json::object{
                         {"image", path}, {"error", sample.error().message}})
                  << "\n";
      }
      continue;
    }
    const auto predictions = predictions_of(*model, *sample, o.top);
    if (o.json) {
      std::cout << readable_json(boost::json::object{
                       {"image", path}, {"predictions", predictions}})
                << "\n";
      continue;
    }
    // "a.png: A 0.931, 4 0.032, ..."
    std::string line = path + ":";
    for (const auto& p : predictions) {
      const auto& e = p.as_object();
      char probability[32];
      std::snprintf(probability, sizeof probability, "%.3f",
                    e.at("probability").as_double());
      line += std::string(&p == predictions.data() ? " " : ", ") +
              std::string(e.at("label").as_string()) + " " + probability;
    }
    std::cout << line << std::endl;
  }
  return status;
}

}  // namespace

void add_predict_command(CLI::App& app, command& run) {
  auto opts = std::make_shared<predict_options>();
  auto* cmd = app.add_subcommand(
      "predict",
      "the classes a saved model (.npz or .onnx) sees in PNG images of one "
      "character each: grey, RGB or RGBA, any size, drawn upright on a "
      "light or dark background; exit 2 when an image cannot be read");
  cmd->add_option("--model", opts->model, "the model file (.npz or .onnx)")
      ->required();
  cmd->add_option("--top", opts->top, "classes shown per image (default 5)")
      ->check(CLI::Range(1, 1000));
  cmd->add_flag("--json", opts->json,
                "one JSON object per image and line: {\"image\", "
                "\"predictions\": [{\"class\", \"label\", \"probability\"}]}");
  cmd->add_option("images", opts->images, "PNG files")->required();
  cmd->callback([opts, &run] {
    run = [opts] {
      return run_predict(*opts);
    };
  });
}

}  // namespace emnist::cli
