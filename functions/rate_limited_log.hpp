// A log line that a flood cannot turn into a flood of lines: at most one
// per interval, and the next one says how many were left out meanwhile.
// For refusals of hostile input, which a client may send in a loop:
// whoever reads the log sees that it happens and how often, without a
// line (and a write to stderr) per request.
//
//   rate_limited_log refused("emnist-predict: refused",
//   std::chrono::seconds(1)); refused.note("the body: too much image data
//   ...");
//   // -> "emnist-predict: refused: the body: too much image data ..."
//   //    "emnist-predict: refused: ... (and 4,211 more in the last 1.0 s)"
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>

namespace emnist {

class rate_limited_log {
 public:
  using clock = std::chrono::steady_clock;

  rate_limited_log(std::string prefix, clock::duration interval,
                   std::FILE* out = stderr);

  /// Logs `message` unless a line went out less than `interval` ago (then
  /// only counts it). Thread-safe. Returns the line written, if any.
  std::optional<std::string> note(const std::string& message,
                                  clock::time_point now = clock::now());

 private:
  std::string prefix_;
  clock::duration interval_;
  std::FILE* out_;
  std::mutex mutex_;
  std::optional<clock::time_point> last_;
  std::uint64_t left_out_ = 0;
};

}  // namespace emnist
