// `emnist serve` as a real process for a test: started on a free loopback
// port with the given arguments, its stderr kept in a file, stopped with
// SIGTERM (and how it exited returned) or killed at scope exit.
//
//   emnist::test::serve_process serve({"--function", "all", "--set", ...});
//   auto r = http_request_to("GET", serve.url("/_/health"), "", {}, 5s);
//   auto exit = serve.terminate(std::chrono::seconds(10));
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace emnist::test {

class serve_process {
 public:
  /// Starts it and waits until it accepts connections (it loads its data
  /// first). "{port}" in an argument becomes its port (for a gateway URL
  /// that points at itself). Throws std::runtime_error with its log when
  /// it does not start.
  explicit serve_process(std::vector<std::string> args);
  ~serve_process();
  serve_process(const serve_process&) = delete;
  serve_process& operator=(const serve_process&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  /// What it wrote on stderr so far.
  std::string log() const;

  struct exit_info {
    int status = -1;     ///< exit status; -1 when killed by a signal
    double seconds = 0;  ///< from SIGTERM to exit
  };
  /// SIGTERM, then waits up to `limit` (then SIGKILL; nullopt).
  std::optional<exit_info> terminate(std::chrono::milliseconds limit);
  /// kill -9: no drain, no last push, no last record (a node lost).
  void kill();

 private:
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::filesystem::path log_;
};

}  // namespace emnist::test
