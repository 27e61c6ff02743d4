// posix_spawn of the emnist binary with stderr to a file.
#include "support/serve_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/ports.hpp"

extern char** environ;

namespace emnist::test {

serve_process::serve_process(std::vector<std::string> args) {
  port_ = free_port();
  log_ = std::filesystem::temp_directory_path() /
         ("emnist-serve-" + std::to_string(::getpid()) + "-" +
          std::to_string(port_) + ".log");
  std::vector<std::string> all = {EMNIST_BINARY, "serve"};
  for (auto a : args) {
    for (auto at = a.find("{port}"); at != std::string::npos;
         at = a.find("{port}")) {
      a.replace(at, 6, std::to_string(port_));
    }
    all.push_back(std::move(a));
  }
  all.push_back("--set");
  all.push_back("http.listen=127.0.0.1:" + std::to_string(port_));
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  // Nothing of the test's own output is inherited: a process left behind
  // by a crashed test must not hold the test runner's pipes open.
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, EMNIST_BINARY, &actions, nullptr,
                               argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start " EMNIST_BINARY);
  pid_ = pid;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    if (accepts(port_)) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("emnist serve exited at start: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("emnist serve did not listen: " + log());
}

serve_process::~serve_process() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  std::error_code ignored;
  std::filesystem::remove(log_, ignored);
}

std::string serve_process::log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void serve_process::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::optional<serve_process::exit_info> serve_process::terminate(
    std::chrono::milliseconds limit) {
  if (pid_ <= 0) return std::nullopt;
  const auto t0 = std::chrono::steady_clock::now();
  ::kill(pid_, SIGTERM);
  while (std::chrono::steady_clock::now() - t0 < limit) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_info info;
      info.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      info.seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      return info;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;  // the destructor kills it
}

}  // namespace emnist::test
