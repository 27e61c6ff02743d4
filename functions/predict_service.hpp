// The emnist-predict function: a PNG (Content-Type: image/png) or JSON
// {"pixels": [784 numbers 0-255, upright rows]} in, the top classes out:
//   {"predictions": [{"class", "label", "probability"}, ...]}
// The model is predict.model (a file, read at start), or with ?job=J the
// job's parameters in the store: cached per job, and refreshed when the
// job has changed (a fetch that answers "not modified" while it has not),
// at most once a second. A PNG's decode is bounded (pixels, its rows'
// bytes inflated, 250 ms of CPU), and refusals are logged at most once a
// second, with a count of those left out.
//
//   predict_service p(config, mapping);
//   if (auto ok = p.load_file_model(); !ok) fail(ok.error());
//   http_response r = p.predict(request);
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "base/expected.hpp"
#include "functions/rate_limited_log.hpp"
#include "model/dataset.hpp"
#include "runtime/config/config.hpp"
#include "runtime/data/model_file.hpp"
#include "runtime/net/http_server.hpp"
#include "runtime/store/job_store.hpp"

namespace emnist {

class predict_service {
 public:
  /// `config`: predict.model, sync.* (for ?job=), http.max_body_bytes;
  /// `mapping`: labels for jobs on config's split.
  predict_service(job_config config, class_mapping mapping);

  /// Reads predict.model, if set; an error names the file.
  [[nodiscard]] expected<void> load_file_model();

  /// Answers one call; thread-safe. Blocks on the store only to load or
  /// check a job's model.
  http_response predict(const http_request& request);

 private:
  struct job_entry {
    std::shared_ptr<const saved_model> model;
    std::shared_ptr<parameter_store> parameters;
    std::uint64_t version = 0;
    std::chrono::steady_clock::time_point checked;
  };
  expected<std::shared_ptr<const saved_model>> job_model_of(
      const std::string& job);

  job_config config_;
  class_mapping mapping_;
  std::shared_ptr<const saved_model> file_model_;
  std::mutex jobs_mutex_;
  std::map<std::string, job_entry> jobs_;
  rate_limited_log refusals_;  ///< bad images, logged at most once a second
};

}  // namespace emnist
