// Metadata first (the shape and block size), then one fetch of every block.
#include "jobs/job_model.hpp"

#include <charconv>
#include <future>

#include "jobs/store_config.hpp"
#include "runtime/store/store_factory.hpp"

namespace emnist {
namespace {

/// A positive integer setting of the job's metadata, or 0.
std::size_t stored_size(const job_metadata& meta, const char* key) {
  for (const auto& [k, v] : meta.entries) {
    if (k != key) continue;
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    return ec == std::errc{} && end == v.data() + v.size() ? n : 0;
  }
  return 0;
}

}  // namespace

expected<job_model> read_job_model(const job_config& cfg) {
  if (cfg.sync.store != store_kind::memcached) {
    return make_error(errc::invalid_argument,
                      "a job's model is read from memcached: set "
                      "sync.store = \"memcached\" and sync.servers");
  }
  auto reader = make_store(store_options_of(cfg, mlp_shape{}), 0);
  if (!reader) return reader.error();
  auto status = read_job_status(*reader->records, cfg.sync.job);
  if (!status) return status.error();
  const mlp_shape shape{stored_size(status->meta, "model.inputs"),
                        stored_size(status->meta, "model.hidden"),
                        stored_size(status->meta, "model.classes")};
  auto with_blocks = cfg;
  with_blocks.sync.block_bytes =
      static_cast<std::int64_t>(stored_size(status->meta, "sync.block_bytes"));
  if (shape.inputs == 0 || shape.hidden == 0 || shape.classes == 0 ||
      with_blocks.sync.block_bytes == 0) {
    return make_error(errc::data_loss,
                      "job '" + cfg.sync.job +
                          "': its metadata does not give the network's shape "
                          "and block size");
  }
  auto store = make_store(store_options_of(with_blocks, shape), shape.size());
  if (!store) return store.error();
  job_model out;
  out.model.shape = shape;
  out.model.parameters.resize(shape.size());
  std::promise<expected<std::uint64_t>> fetched;
  store->parameters->fetch(
      out.model.parameters, parameter_store::mixed_version,
      [&](expected<std::uint64_t> v) { fetched.set_value(std::move(v)); });
  auto version = fetched.get_future().get();
  if (!version) return version.error();
  out.version = *version;
  out.store = std::move(*store);
  out.model.labels = class_labels(class_mapping{}, shape.classes);
  out.status = std::move(*status);
  return out;
}

std::string job_split(const job_status& status) {
  for (const auto& [k, v] : status.meta.entries) {
    // Stored as a JSON string of letters.
    if (k == "data.split" && v.size() >= 2) return v.substr(1, v.size() - 2);
  }
  return {};
}

expected<void> label_from_mapping(job_model& m,
                                  const std::filesystem::path& data_dir) {
  const std::string split = job_split(m.status);
  if (split.empty()) return {};
  const auto file = data_dir / ("emnist-" + split + "-mapping.txt");
  if (!std::filesystem::exists(file)) return {};
  auto mapping = read_class_mapping(file);
  if (!mapping) return mapping.error();
  m.model.labels = class_labels(*mapping, m.model.shape.classes);
  return {};
}

}  // namespace emnist
