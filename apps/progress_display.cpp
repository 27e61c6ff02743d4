// ANSI redraw on a TTY, periodic plain lines on pipes and files.
#include "apps/progress_display.hpp"

#include <unistd.h>

namespace emnist::cli {
namespace {
constexpr auto plain_interval = std::chrono::seconds(5);
}

progress_display::progress_display(std::FILE* out)
    : out_(out), tty_(::isatty(::fileno(out)) != 0) {}

void progress_display::show(const progress_report& p) {
  const auto now = std::chrono::steady_clock::now();
  if (!tty_) {
    if (now - last_plain_ < plain_interval) return;
    last_plain_ = now;
  } else if (lines_drawn_ > 0) {
    std::fprintf(out_, "\x1b[%zuA", lines_drawn_);  // back to the first line
  }
  char accuracy[32] = "-";
  if (p.last_accuracy)
    std::snprintf(accuracy, sizeof accuracy, "%.4f", *p.last_accuracy);
  for (const auto& r : p.replicas) {
    std::fprintf(out_,
                 "%s[%7.2f s] replica %-3u epoch %-4llu samples %-10llu "
                 "%8.0f samples/s  accuracy %s  %s\n",
                 tty_ ? "\x1b[2K" : "", p.seconds, r.id,
                 static_cast<unsigned long long>(r.epoch),
                 static_cast<unsigned long long>(r.samples),
                 r.samples_per_second, accuracy, r.done ? "done" : "");
  }
  lines_drawn_ = p.replicas.size();
  std::fflush(out_);
}

void progress_display::close() {
  std::fflush(out_);
}

}  // namespace emnist::cli
