// Decode, bring to EMNIST's form, one forward pass: tens of microseconds,
// done on the caller's thread. A job's model is fetched once and then only
// checked for a newer version.
#include "functions/predict_service.hpp"

#include <boost/json.hpp>
#include <future>

#include "base/printable.hpp"
#include "functions/prediction.hpp"
#include "functions/summary_json.hpp"
#include "jobs/job_model.hpp"
#include "runtime/data/model_io.hpp"
#include "runtime/net/json_text.hpp"
#include "runtime/store/memcached_options.hpp"

namespace emnist {
namespace {

/// How often a cached job model asks the store whether it changed.
constexpr auto refresh_interval = std::chrono::seconds(1);
/// Jobs whose models are kept at once.
constexpr std::size_t cached_jobs = 8;
/// The most pixels a PNG may have: as large as a 1 MiB body could sensibly
/// decode to, and never gigabytes from a tiny file.
constexpr std::size_t max_png_pixels = 4096 * 4096;
/// The most CPU time one image's decode may take. A photo-sized PNG takes
/// about 1 ms, the largest that fit a 1 MiB body and the pixel limit tens
/// of milliseconds on the fast path, and more on libpng's (16 bits, a
/// palette, interlaced): past this, a request costs the other clients more
/// than any image is worth.
constexpr auto max_decode_cpu = std::chrono::milliseconds(250);

}  // namespace

predict_service::predict_service(job_config config, class_mapping mapping)
    : config_(std::move(config)),
      mapping_(std::move(mapping)),
      // One line a second at most: a client sending bad images in a loop
      // must not fill the log.
      refusals_("emnist-predict: refused an image (400)",
                std::chrono::seconds(1)) {}

expected<void> predict_service::load_file_model() {
  if (config_.predict.model.empty()) return {};
  auto m = read_model(config_.predict.model);
  if (!m) {
    return make_error(m.error().code, "predict.model: " + m.error().message);
  }
  if (m->shape.inputs != emnist_side * emnist_side) {
    return make_error(errc::invalid_argument,
                      "predict.model: " + config_.predict.model + ": " +
                          std::to_string(m->shape.inputs) +
                          " inputs; images are 28x28 (784)");
  }
  file_model_ = std::make_shared<const saved_model>(std::move(*m));
  return {};
}

expected<std::shared_ptr<const saved_model>> predict_service::job_model_of(
    const std::string& job) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(jobs_mutex_);
  auto it = jobs_.find(job);
  if (it == jobs_.end()) {
    auto cfg = config_;
    cfg.sync.job = job;
    auto m = read_job_model(cfg);
    if (!m) return m.error();
    if (job_split(m->status) == config_.data.split) {
      m->model.labels = class_labels(mapping_, m->model.shape.classes);
    }
    if (jobs_.size() >= cached_jobs) jobs_.clear();
    it = jobs_
             .emplace(job, job_entry{std::make_shared<const saved_model>(
                                         std::move(m->model)),
                                     m->store.parameters, m->version, now})
             .first;
    return it->second.model;
  }
  auto& e = it->second;
  if (now - e.checked < refresh_interval) return e.model;
  // Not modified: the fetch copies nothing and says so.
  auto fresh = std::make_shared<saved_model>(*e.model);
  std::promise<expected<std::uint64_t>> fetched;
  e.parameters->fetch(
      fresh->parameters, e.version,
      [&](expected<std::uint64_t> v) { fetched.set_value(std::move(v)); });
  auto v = fetched.get_future().get();
  if (!v) return v.error();
  e.checked = now;
  if (*v != e.version) {
    e.version = *v;
    e.model = std::move(fresh);
  }
  return e.model;
}

http_response predict_service::predict(const http_request& request) {
  if (request.method != "POST") {
    return json_error(
        405, printable(request.method) + ": POST a PNG or {\"pixels\": [...]}",
        "method");
  }
  std::shared_ptr<const saved_model> model = file_model_;
  const std::string* job = request.query_value("job");
  if (job != nullptr) {
    if (!valid_job_name(*job)) {
      return json_error(400, "job '" + printable(*job) + "': " + job_name_rule,
                        "job");
    }
    auto m = job_model_of(*job);
    if (!m) {
      return json_error(http_status_of(m.error()), m.error().message,
                        m.error().code == errc::not_found ? "job" : "sync");
    }
    model = *m;
  }
  if (!model) {
    return json_error(400,
                      "no model: this function has no predict.model; name a "
                      "job with ?job=J",
                      "model");
  }
  if (request.body.empty()) {
    return json_error(400, "empty body: POST a PNG or {\"pixels\": [...]}",
                      "body");
  }
  const std::string* type = request.header("content-type");
  const bool png = type != nullptr && type->rfind("image/png", 0) == 0;
  const cpu_budget budget(max_decode_cpu);
  auto sample =
      png ? sample_of_png(std::as_bytes(std::span(request.body.data(),
                                                  request.body.size())),
                          "the body", max_png_pixels, budget)
          : sample_of_pixels_json(request.body);
  if (!sample) {
    refusals_.note(sample.error().message);
    return json_error(400, sample.error().message, "body");
  }
  boost::json::object answer{
      {"predictions", predictions_of(*model, *sample, 5)}};
  if (job != nullptr) answer["job"] = *job;
  return {200, "application/json", readable_json(answer), {}};
}

}  // namespace emnist
