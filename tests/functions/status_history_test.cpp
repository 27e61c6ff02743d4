// The live page's history: bounded, and a new job makes room by dropping
// one job, not every job's chart.
#include "functions/status_history.hpp"

#include <doctest/doctest.h>

#include <string>

using namespace emnist;

namespace {

/// A one-replica job whose replica has evaluated `accuracy`.
job_status evaluated(double accuracy) {
  job_status s;
  s.replicas = 1;
  replica_record r;
  r.accuracy = accuracy;
  r.heartbeat_ms = 1'000;
  r.samples = 64;
  s.records.emplace_back(r);
  return s;
}

std::size_t points_of(const status_history& h, const std::string& job) {
  const auto lines = h.of(job);
  return lines.empty() ? 0 : lines[0].as_array().size();
}

}  // namespace

TEST_CASE("status history: a 17th job drops the one looked at longest ago") {
  status_history h;
  // 16 jobs, the most it keeps.
  for (int j = 0; j < 16; ++j) {
    h.note("job" + std::to_string(j), evaluated(0.5));
    h.note("job" + std::to_string(j), evaluated(0.6));
  }
  // job0 is looked at again (a page polls it): job1 is now the oldest.
  CHECK(points_of(h, "job0") == 2);
  h.note("job16", evaluated(0.5));
  CHECK(points_of(h, "job1") == 0);
  // Every other job keeps its chart (all were cleared before).
  CHECK(points_of(h, "job0") == 2);
  for (int j = 2; j < 16; ++j) {
    CAPTURE(j);
    CHECK(points_of(h, "job" + std::to_string(j)) == 2);
  }
  CHECK(points_of(h, "job16") == 1);
}

TEST_CASE("status history: a replica keeps its last 600 points") {
  status_history h;
  for (int i = 0; i < 700; ++i) h.note("j", evaluated(i / 1000.0));
  const auto lines = h.of("j");
  REQUIRE(lines.size() == 1);
  const auto& points = lines[0].as_array();
  REQUIRE(points.size() == 600);
  CHECK(points[0].as_array()[1].as_double() == 0.1);  // the first 100 went
  // The same accuracy again is the same evaluation: no new point.
  h.note("j", evaluated(0.699));
  CHECK(h.of("j")[0].as_array().size() == 600);
}
