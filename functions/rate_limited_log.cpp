#include "functions/rate_limited_log.hpp"

namespace emnist {

rate_limited_log::rate_limited_log(std::string prefix, clock::duration interval,
                                   std::FILE* out)
    : prefix_(std::move(prefix)), interval_(interval), out_(out) {}

std::optional<std::string> rate_limited_log::note(const std::string& message,
                                                  clock::time_point now) {
  std::string line;
  {
    std::lock_guard lock(mutex_);
    if (last_ && now - *last_ < interval_) {
      ++left_out_;
      return std::nullopt;
    }
    line = prefix_ + ": " + message;
    if (left_out_ > 0) {
      const double seconds =
          std::chrono::duration<double>(now - *last_).count();
      char since[96];
      std::snprintf(since, sizeof since, " (and %llu more in the last %.1f s)",
                    static_cast<unsigned long long>(left_out_), seconds);
      line += since;
    }
    last_ = now;
    left_out_ = 0;
  }
  if (out_ != nullptr) std::fprintf(out_, "%s\n", line.c_str());
  return line;
}

}  // namespace emnist
