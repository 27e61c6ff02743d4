// Training on a busy machine: processes that want every core beside a job
// on real memcached. A store call that times out against a healthy local
// server must not happen, and no run may fail.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <vector>

#include "jobs/simulation.hpp"
#include "support/memcached_server.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

/// Processes that spin on a core each until this goes out of scope.
class busy_neighbours {
 public:
  explicit busy_neighbours(int count) {
    for (int i = 0; i < count; ++i) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        // The child of a threaded process: spin, call nothing.
        for (;;) __asm__ volatile("");
      }
      if (pid > 0) pids_.push_back(pid);
    }
  }
  ~busy_neighbours() {
    for (const pid_t pid : pids_) ::kill(pid, SIGKILL);
    for (const pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
  }
  busy_neighbours(const busy_neighbours&) = delete;
  busy_neighbours& operator=(const busy_neighbours&) = delete;
  std::size_t size() const { return pids_.size(); }

 private:
  std::vector<pid_t> pids_;
};

}  // namespace

TEST_CASE(
    "contention: two busy neighbours, twenty runs on memcached, none fails") {
  test::memcached_server server;
  const auto& data = test::bymerge_data(20000);  // loaded before the load
  busy_neighbours neighbours(2);
  REQUIRE(neighbours.size() == 2);
  std::uint64_t retries = 0;
  for (int run = 0; run < 20; ++run) {
    CAPTURE(run);
    job_config cfg;
    cfg.data.train = "test[:20000]";
    cfg.data.eval = "test[100000:]";
    cfg.train.replicas = 2;
    cfg.train.eval_every = 100;
    cfg.train.max_epochs = 6;
    cfg.train.target_accuracy = 0.6;
    cfg.sync.store = store_kind::memcached;
    cfg.sync.servers = {server.address()};
    cfg.sync.job = "busy-" + std::to_string(run);
    auto r = run_simulation(cfg, data);
    REQUIRE_MESSAGE(r.has_value(), test::error_text(r));
    CHECK(r->reached);
    CHECK(r->sync.pushes_applied == r->sync.pushes);
    // A retry is a call that found the server unreachable (a timeout of
    // sync.timeout_ms, 1 s): against this healthy local server, only
    // starved of CPU, none.
    CHECK(r->sync.server_retries == 0);
    retries += r->sync.server_retries;
  }
  MESSAGE("store calls retried over the 20 runs: " << retries);
}
