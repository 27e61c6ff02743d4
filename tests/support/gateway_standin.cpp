// posix_spawn of python3 with the stand-in script, stderr to a file.
#include "support/gateway_standin.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "support/ports.hpp"

extern char** environ;

namespace emnist::test {

gateway_standin::gateway_standin(
    const std::map<std::string, std::vector<std::uint16_t>>& functions,
    int queue_workers, std::uint16_t port) {
  port_ = port != 0 ? port : free_port();
  const auto stem = std::filesystem::temp_directory_path() /
                    ("emnist-gateway-" + std::to_string(::getpid()) + "-" +
                     std::to_string(port_));
  backends_ = stem.string() + ".json";
  log_ = stem.string() + ".log";
  {
    std::ofstream out(backends_);
    out << "{";
    bool first_function = true;
    for (const auto& [name, ports] : functions) {
      out << (first_function ? "" : ",") << "\"" << name << "\":[";
      for (std::size_t i = 0; i < ports.size(); ++i) {
        out << (i ? "," : "") << "\"127.0.0.1:" << ports[i] << "\"";
      }
      out << "]";
      first_function = false;
    }
    out << "}";
  }
  const std::string script =
      std::string(EMNIST_SOURCE_DIR) + "/tests/deploy/gateway_standin.py";
  std::vector<std::string> all = {
      "/usr/bin/python3",    script,
      std::to_string(port_), backends_.string(),
      "--queue-workers",     std::to_string(queue_workers)};
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int rc =
      ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot start /usr/bin/python3");
  pid_ = pid;
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (accepts(port_)) return;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("the stand-in gateway exited: " + log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("the stand-in gateway did not listen: " + log());
}

gateway_standin::~gateway_standin() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
  std::error_code ignored;
  std::filesystem::remove(backends_, ignored);
  std::filesystem::remove(log_, ignored);
}

std::string gateway_standin::log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace emnist::test
