// A job's current parameters, read from its store, as a model file's
// contents: what `emnist export --job` writes and `GET /model?job=J`
// answers. The shape and the block size come from the job's metadata, so
// the reader needs only the pool and the job's name.
//
//   auto m = read_job_model(cfg);           // cfg.sync: servers, job
//   label_from_mapping(*m, data_dir);       // the mapping's characters
//   write_model("run1.onnx", m->model);
#pragma once

#include <filesystem>

#include "base/expected.hpp"
#include "jobs/job_lifecycle.hpp"
#include "runtime/config/config.hpp"
#include "runtime/data/model_file.hpp"
#include "runtime/store/job_store.hpp"

namespace emnist {

struct job_model {
  saved_model model;
  job_status status;  ///< the job's progress when the model was read
  /// The store the parameters came from, and their version there: a later
  /// fetch with this version copies nothing while the job is unchanged.
  job_store store;
  std::uint64_t version = 0;
};

/// The parameters of job `cfg.sync.job` in the memcached pool of
/// `cfg.sync`, labelled by class number. Errors: not_found for a job that
/// is not in the store, data_loss for metadata that names no network, and
/// the store's own.
[[nodiscard]] expected<job_model> read_job_model(const job_config& cfg);

/// The split the job trains on, from its metadata ("bymerge").
[[nodiscard]] std::string job_split(const job_status& status);

/// Labels the model with the mapping file of the job's split in
/// `data_dir`, when there is one; a bad mapping file is an error.
[[nodiscard]] expected<void> label_from_mapping(
    job_model& m, const std::filesystem::path& data_dir);

}  // namespace emnist
