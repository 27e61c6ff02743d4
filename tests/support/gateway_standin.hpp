// The CE-like stand-in gateway (tests/deploy/gateway_standin.py) as a real
// process for a test: sync calls forwarded at once, async calls run by
// `queue_workers` workers one at a time in arrival order, as OpenFaaS CE's
// queue-worker runs them. Started on a free loopback port, killed at scope
// exit.
//
//   test::gateway_standin gw({{"emnist-train", {train.port()}},
//                             {"emnist-setup", {setup.port()}}});
//   auto r = http_request_to("POST", gw.url("/function/emnist-setup"), ...);
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace emnist::test {

class gateway_standin {
 public:
  /// Function name -> the ports of its containers (emnist serve processes
  /// on 127.0.0.1). `port`: where it listens (0: a free port; a test that
  /// starts a function pointing at the gateway first picks one with
  /// free_port()). Throws std::runtime_error with its log when it does
  /// not start.
  explicit gateway_standin(
      const std::map<std::string, std::vector<std::uint16_t>>& functions,
      int queue_workers = 1, std::uint16_t port = 0);
  ~gateway_standin();
  gateway_standin(const gateway_standin&) = delete;
  gateway_standin& operator=(const gateway_standin&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  /// What it logged: one line per call.
  std::string log() const;

 private:
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
  std::filesystem::path backends_;
  std::filesystem::path log_;
};

}  // namespace emnist::test
