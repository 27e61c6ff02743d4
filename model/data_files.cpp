// Resolving a split's file names, loading each file once, checking labels.
#include "model/data_files.hpp"

#include <algorithm>
#include <chrono>
#include <map>

namespace emnist {

std::filesystem::path idx_path(const std::filesystem::path& dir,
                               const std::string& split,
                               const std::string& file, bool images) {
  const std::string base =
      "emnist-" + split + "-" + file +
      (images ? "-images-idx3-ubyte" : "-labels-idx1-ubyte");
  const auto gz = dir / (base + ".gz");
  const auto raw = dir / base;
  if (!std::filesystem::exists(gz) && std::filesystem::exists(raw)) return raw;
  return gz;
}

namespace {

expected<std::shared_ptr<const labeled_images>> load_file(
    const data_request& r, const std::string& file) {
  auto images = read_idx_images(idx_path(r.dir, r.split, file, true));
  if (!images) return images.error();
  auto labels = read_idx_labels(idx_path(r.dir, r.split, file, false));
  if (!labels) return labels.error();
  auto paired = pair_images_and_labels("emnist-" + r.split + "-" + file,
                                       std::move(*images), std::move(*labels));
  if (!paired) return paired.error();
  return std::make_shared<const labeled_images>(std::move(*paired));
}

/// The split's name checked, and its mapping file read where there is one
/// (`classes` from it; 0 without one).
expected<job_data> split_labels(const data_request& r) {
  if (std::find(known_splits().begin(), known_splits().end(), r.split) ==
      known_splits().end()) {
    return make_error(errc::invalid_argument,
                      "unknown split '" + r.split +
                          "' (expected byclass, bymerge, balanced, letters, "
                          "digits or mnist)");
  }
  job_data out;
  const auto mapping_file = r.dir / ("emnist-" + r.split + "-mapping.txt");
  if (std::filesystem::exists(mapping_file)) {
    auto m = read_class_mapping(mapping_file);
    if (!m) return m.error();
    out.mapping = std::move(*m);
    out.classes = out.mapping.classes();
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

}  // namespace

expected<job_data> load_job_labels(const data_request& r) {
  const auto t0 = std::chrono::steady_clock::now();
  auto out = split_labels(r);
  if (out) out->load_seconds = seconds_since(t0);
  return out;
}

expected<job_data> load_job_data(const data_request& r) {
  const auto t0 = std::chrono::steady_clock::now();
  auto labels = split_labels(r);
  if (!labels) return labels.error();
  job_data out = std::move(*labels);
  std::map<std::string, std::shared_ptr<const labeled_images>> files;
  for (const auto* sel : {&r.train, &r.eval}) {
    if (files.contains(sel->file)) continue;
    auto f = load_file(r, sel->file);
    if (!f) return f.error();
    files[sel->file] = std::move(*f);
  }

  if (out.mapping.classes() == 0) {
    for (const auto& [_, f] : files) {
      if (!f->labels.empty()) {
        out.classes = std::max<std::size_t>(
            out.classes,
            *std::max_element(f->labels.begin(), f->labels.end()) + 1u);
      }
    }
  }
  for (const auto& [name, f] : files) {
    for (std::size_t i = 0; i < f->count; ++i) {
      if (f->labels[i] >= out.classes) {
        return make_error(errc::invalid_argument,
                          f->name + " labels: byte offset " +
                              std::to_string(8 + i) + ": label " +
                              std::to_string(f->labels[i]) +
                              " is not a class of the mapping (" +
                              std::to_string(out.classes) + " classes)");
      }
    }
  }

  const auto& train_file = files.at(r.train.file);
  const auto& eval_file = files.at(r.eval.file);
  if (train_file->features != eval_file->features) {
    return make_error(errc::invalid_argument,
                      train_file->name + " and " + eval_file->name +
                          " have different image sizes");
  }
  out.features = train_file->features;
  out.train = data_view(train_file, r.train.resolve(train_file->count));
  out.eval = data_view(eval_file, r.eval.resolve(eval_file->count));
  if (out.train.size() == 0) {
    return make_error(errc::invalid_argument,
                      "data.train = '" + r.train.to_string() +
                          "' selects no sample of " + train_file->name + " (" +
                          std::to_string(train_file->count) + " samples)");
  }
  if (out.eval.size() == 0) {
    return make_error(errc::invalid_argument,
                      "data.eval = '" + r.eval.to_string() +
                          "' selects no sample of " + eval_file->name + " (" +
                          std::to_string(eval_file->count) + " samples)");
  }
  out.load_seconds = seconds_since(t0);
  return out;
}

}  // namespace emnist
