// fork/exec of Debian's memcached on 127.0.0.1, readiness by connecting.
#include "support/memcached_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/ports.hpp"

extern char** environ;

namespace emnist::test {
memcached_server::memcached_server(std::vector<std::string> extra)
    : extra_(std::move(extra)) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    port_ = free_port();
    if (try_start()) return;
  }
  throw std::runtime_error("memcached did not start (is it installed?)");
}

memcached_server::~memcached_server() {
  stop();
}

void memcached_server::start() {
  if (!running() && !try_start()) {
    throw std::runtime_error("memcached did not restart on port " +
                             std::to_string(port_));
  }
}

bool memcached_server::try_start() {
  const std::string port = std::to_string(port_);
  std::vector<std::string> args = {"memcached", "-l", "127.0.0.1", "-p",
                                   port,        "-U", "0",         "-m",
                                   "64",        "-t", "2"};
  args.insert(args.end(), extra_.begin(), extra_.end());
  if (::geteuid() == 0) {
    args.push_back("-u");
    args.push_back("root");  // memcached refuses to run as root otherwise
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Not inheriting the test's output: a server left behind by a crashed
  // test must not hold the test runner's pipes open.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = ::posix_spawnp(&pid, "memcached", &actions, nullptr,
                                argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return false;
  pid_ = pid;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (accepts(port_)) return true;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {  // exited: port taken?
      pid_ = -1;
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop();
  return false;
}

void memcached_server::pause() {
  if (pid_ > 0) ::kill(pid_, SIGSTOP);
}

void memcached_server::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

void memcached_server::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

}  // namespace emnist::test
