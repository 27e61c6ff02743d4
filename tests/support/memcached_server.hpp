// A real memcached server for a test: started on a free loopback port,
// stopped (and restartable, empty) on demand, killed at scope exit.
//
//   emnist::test::memcached_server server;
//   use(server.address());   // "127.0.0.1:<port>"
//   server.stop();  server.start();   // a restart: the server comes back empty
//   server.pause();  server.resume(); // SIGSTOP, SIGCONT: a hung server
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace emnist::test {

class memcached_server {
 public:
  /// Throws std::runtime_error if it cannot start. `extra` goes on the
  /// command line (e.g. {"-C"}: CAS disabled).
  explicit memcached_server(std::vector<std::string> extra = {});
  ~memcached_server();
  memcached_server(const memcached_server&) = delete;
  memcached_server& operator=(const memcached_server&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }

  void stop();
  void start();  ///< on the same port
  /// SIGSTOP: the server holds its connections and answers nothing, as a
  /// hung or swapped-out server does; resume() (SIGCONT) goes on.
  void pause();
  void resume();

 private:
  bool try_start();
  std::vector<std::string> extra_;
  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace emnist::test
