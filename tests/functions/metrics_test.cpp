// The functions' Prometheus page: a long-lived pod's series stay bounded
// however many jobs it trains.
#include "functions/metrics.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string>

using namespace emnist;

namespace {

std::size_t count(const std::string& text, const std::string& part) {
  std::size_t n = 0;
  for (auto at = text.find(part); at != std::string::npos;
       at = text.find(part, at + 1)) {
    ++n;
  }
  return n;
}

}  // namespace

TEST_CASE("metrics: per-replica series are bounded however many jobs ran") {
  // A setup pod that has trained 1,000 two-replica jobs (or a train pod
  // that has joined them): two series each were kept until a restart.
  function_metrics m;
  for (int j = 0; j < 1000; ++j) {
    for (std::uint32_t r = 0; r < 2; ++r) {
      m.set_replica("job" + std::to_string(j), r, 1000, 0.75);
    }
  }
  const std::string page = m.render(0);
  CHECK(count(page, "emnist_training_samples_total{") <= 256);
  CHECK(count(page, "emnist_accuracy{") <= 256);
  // The newest are those kept.
  CHECK(count(page, "job=\"job999\"") == 4);
  CHECK(count(page, "job=\"job0\"") == 0);
}

TEST_CASE("metrics: a replica's series end series_ttl after its last report") {
  using clock = function_metrics::clock;
  function_metrics m;
  const auto t0 = clock::now();
  m.set_replica("done", 0, 500, 0.8, t0);
  m.set_replica("training", 0, 100, -1, t0);
  // Scrapes within the TTL see the final values.
  auto page = m.render(0, t0 + std::chrono::minutes(9));
  CHECK(count(page,
              "emnist_training_samples_total{job=\"done\",replica=\"0\"} "
              "500") == 1);
  CHECK(count(page, "emnist_accuracy{job=\"done\",replica=\"0\"} 0.8") == 1);
  // One replica goes on reporting, the other finished long ago.
  m.set_replica("training", 0, 900, 0.7, t0 + std::chrono::minutes(9));
  page =
      m.render(0, t0 + function_metrics::series_ttl + std::chrono::minutes(1));
  CHECK(count(page, "job=\"done\"") == 0);
  CHECK(count(page,
              "emnist_training_samples_total{job=\"training\","
              "replica=\"0\"} 900") == 1);
  // The process's totals stay: they carry no job label.
  CHECK(count(page, "\nemnist_pushes_total 0\n") == 1);
}
