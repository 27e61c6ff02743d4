// Resolving a split's file names, loading each file once (the rows that are
// needed of it), checking labels.
#include "model/data_files.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <system_error>
#include <thread>

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

/// The IDX bytes of one file, reopened from its source when what a cache
/// file gave fails its checksums.
struct opened {
  std::filesystem::path path;
  expected<idx_bytes> bytes = make_error(errc::internal, "not opened");
  idx_source_options options;

  /// Checks bytes [begin, end); on a cache mismatch, reads the source
  /// instead (whose bytes need no check).
  expected<void> verify(std::size_t begin, std::size_t end) {
    if (!bytes) return bytes.error();
    if (bytes->verify(begin, end)) return {};
    options.ignore_cache = true;
    bytes = open_idx_bytes(path, options);
    if (!bytes) return bytes.error();
    return {};
  }
};

/// An images file and its labels file, opened and their headers checked.
struct file_pair {
  std::string name;  ///< "emnist-bymerge-test"
  opened images;
  opened labels;
  idx_images header;  ///< count, rows, cols (no pixels)
};

/// Runs each task, on threads of their own where there are any to be had:
/// the files of a load inflate (or are checked) side by side.
void run_all(std::vector<std::function<void()>>& tasks) {
  std::vector<std::thread> threads;
  for (std::size_t i = 1; i < tasks.size(); ++i) {
    try {
      threads.emplace_back(tasks[i]);
    } catch (const std::system_error&) {
      tasks[i]();
    }
  }
  if (!tasks.empty()) tasks[0]();
  for (auto& t : threads) t.join();
}

/// Checks both headers (verifying them first) and that the counts agree.
expected<void> check_headers(file_pair& f) {
  if (auto ok = f.images.verify(0, 16); !ok) return ok;
  auto header =
      check_idx_images(f.images.bytes->bytes(), f.images.path.string());
  if (!header) return header.error();
  f.header = std::move(*header);
  if (auto ok = f.labels.verify(0, 8); !ok) return ok;
  const auto labels = f.labels.bytes->bytes();
  if (auto ok = check_idx_labels(labels, f.labels.path.string()); !ok) {
    return ok;
  }
  if (f.header.count != labels.size() - 8) {
    return make_error(errc::invalid_argument,
                      f.name + ": the images file has " +
                          std::to_string(f.header.count) +
                          " images but the labels file has " +
                          std::to_string(labels.size() - 8) + " labels");
  }
  return {};
}

/// The rows `held` of a file: checked against the cache's checksums, then
/// as a labeled_images that points into the file's bytes. Bytes inflated
/// into memory are copied when only part of them is held, so that the rest
/// is freed.
expected<std::shared_ptr<const labeled_images>> hold_rows(file_pair& f,
                                                          index_range held) {
  const std::size_t features = std::size_t{f.header.rows} * f.header.cols;
  if (auto ok =
          f.images.verify(16 + held.begin * features, 16 + held.end * features);
      !ok) {
    return ok.error();
  }
  if (auto ok = f.labels.verify(8 + held.begin, 8 + held.end); !ok) {
    return ok.error();
  }
  auto out = std::make_shared<labeled_images>();
  out->name = f.name;
  out->count = f.header.count;
  out->features = features;
  out->held = held;
  out->pixels = f.images.bytes->bytes().subspan(16 + held.begin * features,
                                                held.size() * features);
  out->labels = f.labels.bytes->bytes().subspan(8 + held.begin, held.size());
  const bool part = held.size() < f.header.count;
  const bool in_memory = f.images.bytes->origin() == idx_origin::inflated;
  if (part && in_memory) {
    struct copy {
      std::vector<std::uint8_t> pixels;
      std::vector<std::uint8_t> labels;
    };
    auto c =
        std::make_shared<copy>(copy{{out->pixels.begin(), out->pixels.end()},
                                    {out->labels.begin(), out->labels.end()}});
    out->pixels = c->pixels;
    out->labels = c->labels;
    out->storage = std::move(c);
  } else {
    struct both {
      std::shared_ptr<const void> images;
      std::shared_ptr<const void> labels;
    };
    out->storage = std::make_shared<both>(
        both{f.images.bytes->owner(), f.labels.bytes->owner()});
  }
  return std::shared_ptr<const labeled_images>(std::move(out));
}

/// The rows of `selection` that replicas `shards` train.
index_range shards_hull(index_range selection, const train_shards& shards) {
  if (shards.ids.empty() || shards.count == 0) {
    return {selection.begin, selection.begin};
  }
  const data_view whole(nullptr, selection);
  index_range hull{selection.end, selection.begin};
  for (const auto id : shards.ids) {
    const auto r = whole.shard_range(id, shards.count);
    hull.begin = std::min(hull.begin, r.begin);
    hull.end = std::max(hull.end, r.end);
  }
  if (hull.begin > hull.end) hull = {selection.begin, selection.begin};
  return {std::min(hull.begin, selection.end),
          std::min(std::max(hull.begin, hull.end), selection.end)};
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

  idx_source_options options;
  options.cache_dirs = r.cache_dirs ? *r.cache_dirs : idx_cache_dirs("", r.dir);
  std::map<std::string, file_pair> files;
  for (const auto* sel : {&r.train, &r.eval}) {
    if (files.contains(sel->file)) continue;
    auto& f = files[sel->file];
    f.name = "emnist-" + r.split + "-" + sel->file;
    f.images.path = idx_path(r.dir, r.split, sel->file, true);
    f.labels.path = idx_path(r.dir, r.split, sel->file, false);
    f.images.options = f.labels.options = options;
  }
  std::vector<std::function<void()>> tasks;
  for (auto& [_, f] : files) {
    for (auto* o : {&f.images, &f.labels}) {
      tasks.emplace_back(
          [o] { o->bytes = open_idx_bytes(o->path, o->options); });
    }
  }
  run_all(tasks);
  // Train's file first, then eval's: the first error is the same every
  // time, whichever thread finished first.
  for (const auto* sel : {&r.train, &r.eval}) {
    if (auto ok = check_headers(files.at(sel->file)); !ok) return ok.error();
  }

  file_pair& train_file = files.at(r.train.file);
  file_pair& eval_file = files.at(r.eval.file);
  const auto train_range = r.train.resolve(train_file.header.count);
  const auto eval_range = r.eval.resolve(eval_file.header.count);
  // What each view holds: whole files (every row checked), as ever, or the
  // replicas' shards of train and the eval selection.
  std::map<std::string, std::shared_ptr<const labeled_images>> whole;
  std::shared_ptr<const labeled_images> train_rows;
  std::shared_ptr<const labeled_images> eval_rows;
  if (!r.only_shards) {
    for (auto& [name, f] : files) {
      auto held = hold_rows(f, {0, f.header.count});
      if (!held) return held.error();
      whole[name] = std::move(*held);
    }
    train_rows = whole.at(r.train.file);
    eval_rows = whole.at(r.eval.file);
  } else {
    auto t = hold_rows(train_file, shards_hull(train_range, *r.only_shards));
    if (!t) return t.error();
    auto e = hold_rows(eval_file, eval_range);
    if (!e) return e.error();
    train_rows = std::move(*t);
    eval_rows = std::move(*e);
  }
  for (const auto& [_, f] : files) {
    for (const auto* o : {&f.images, &f.labels}) {
      out.sources.push_back({o->path, o->bytes->origin(), o->bytes->note()});
    }
  }

  if (out.mapping.classes() == 0) {
    for (const auto* f : {train_rows.get(), eval_rows.get()}) {
      if (!f->labels.empty()) {
        out.classes = std::max<std::size_t>(
            out.classes,
            *std::max_element(f->labels.begin(), f->labels.end()) + 1u);
      }
    }
  }
  for (const auto* f : {train_rows.get(), eval_rows.get()}) {
    for (std::size_t i = 0; i < f->labels.size(); ++i) {
      if (f->labels[i] >= out.classes) {
        return make_error(errc::invalid_argument,
                          f->name + " labels: byte offset " +
                              std::to_string(8 + f->held.begin + i) +
                              ": label " + std::to_string(f->labels[i]) +
                              " is not a class of the mapping (" +
                              std::to_string(out.classes) + " classes)");
      }
    }
  }

  if (train_rows->features != eval_rows->features) {
    return make_error(errc::invalid_argument,
                      train_rows->name + " and " + eval_rows->name +
                          " have different image sizes");
  }
  out.features = train_rows->features;
  out.train = data_view(train_rows, train_range);
  out.eval = data_view(eval_rows, eval_range);
  if (out.train.size() == 0) {
    return make_error(errc::invalid_argument,
                      "data.train = '" + r.train.to_string() +
                          "' selects no sample of " + train_rows->name + " (" +
                          std::to_string(train_rows->count) + " samples)");
  }
  if (out.eval.size() == 0) {
    return make_error(errc::invalid_argument,
                      "data.eval = '" + r.eval.to_string() +
                          "' selects no sample of " + eval_rows->name + " (" +
                          std::to_string(eval_rows->count) + " samples)");
  }
  out.load_seconds = seconds_since(t0);
  return out;
}

std::string describe_sources(const job_data& data) {
  auto dir_of = [](const std::string& note, std::string_view prefix) {
    return std::filesystem::path(note.substr(prefix.size())).parent_path();
  };
  bool cached = false;
  bool written = false;
  bool raw = false;
  std::string inflated;
  std::filesystem::path dir;
  for (const auto& s : data.sources) {
    switch (s.origin) {
      case idx_origin::cache:
        cached = true;
        dir = dir_of(s.note, "cache ");
        break;
      case idx_origin::inflated_cached:
        written = true;
        dir = dir_of(s.note, "inflated, cached as ");
        break;
      case idx_origin::inflated:
        inflated = s.note;
        break;
      case idx_origin::raw_file:
        raw = true;
        break;
    }
  }
  if (!inflated.empty()) return inflated;
  if (written) return "inflated, cached in " + dir.string();
  if (cached) return "from the cache in " + dir.string();
  return raw ? "raw files" : "nothing read";
}

}  // namespace emnist
