// One coroutine per replica slot on the driver's io thread: call, read the
// answer, call again or wait or finish; one more per job writes the slots'
// notes to the store when they change, and every few seconds.
#include "functions/job_driver.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "base/printable.hpp"
#include "jobs/job_lifecycle.hpp"
#include "runtime/net/http_client.hpp"

namespace emnist {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;

/// How often the notes are written when nothing changes: the status tells
/// a driver that is gone by its heartbeat.
constexpr auto notes_heartbeat = std::chrono::seconds(5);
/// The first pause before a call is made again; it doubles up to
/// options::max_pause.
constexpr auto first_pause = std::chrono::milliseconds(500);
/// A function at capacity (429) is called again soon: the gateway may send
/// the next call to another pod, or the pod may free its slot any moment
/// (a replica's call that just ended). Its pause doubles only up to
/// max_busy_pause: at 10 s a replica idled up to 3 s behind a pod that had
/// been free for most of them (seen under ASan).
constexpr auto first_busy_pause = std::chrono::milliseconds(50);
constexpr auto max_busy_pause = std::chrono::milliseconds(400);

/// What to do after a call's answer.
struct verdict {
  enum class next { call_again, wait, finished } what = next::wait;
  std::string reason;
  bool busy = false;  ///< 429: every call slot taken, for now
};

std::string first_line(const std::string& text, std::size_t max = 300) {
  return printable(text.substr(0, text.find('\n')), max);
}

/// A JSON error's message and field, when the body is one.
std::pair<std::string, std::string> error_of(const std::string& body) {
  boost::json::error_code ec;
  auto v = boost::json::parse(body, ec);
  const auto* o = ec ? nullptr : v.if_object();
  if (o == nullptr) return {first_line(body), ""};
  auto text = [&](const char* k) {
    const auto* s = o->if_contains(k);
    return s != nullptr && s->is_string() ? std::string(s->get_string())
                                          : std::string{};
  };
  return {printable(text("error"), 300), text("field")};
}

verdict judge(const expected<http_client_response>& r) {
  using next = verdict::next;
  if (!r) {
    return {next::wait,
            "the gateway did not answer: " + printable(r.error().message, 300)};
  }
  const int status = r->status;
  if (status == 200) {
    boost::json::error_code ec;
    auto v = boost::json::parse(r->body, ec);
    const auto* o = ec ? nullptr : v.if_object();
    const auto* stop = o ? o->if_contains("stop_reason") : nullptr;
    const std::string why = stop != nullptr && stop->is_string()
                                ? std::string(stop->get_string())
                                : "";
    // Out of time: go on at once, from the stored progress.
    if (why == "max_seconds") return {next::call_again, why};
    // Stopped by a shutdown of its pod: go on in another, after a pause (a
    // pod that stops every call at once must not be called in a loop).
    if (why == "interrupted") {
      return {next::wait, "its call was interrupted (the pod shut down)"};
    }
    if (why == "target" || why == "max_epochs") {
      return {next::finished, why == "target" ? "the job reached its target"
                                              : "the replica did its passes"};
    }
    return {next::finished, "emnist-train answered: " + first_line(r->body)};
  }
  const auto [message, field] = error_of(r->body);
  const std::string answered =
      "emnist-train answered " + std::to_string(status) + ": ";
  if (status == 409 && (field == "job_id" || field == "job")) {
    // Replaced, or finished: nothing more to call.
    return {next::finished, answered + message};
  }
  if (status == 409 || status == 429 || status == 502 || status == 503 ||
      status == 504 || status == 500) {
    std::string why = answered + message;
    if (status == 429) {
      why +=
          " (every call slot of its pods is taken: http.max_inflight, or "
          "fewer pods than replicas)";
    }
    return {next::wait, why, status == 429};
  }
  // 400, 401, 403, 404, ...: the call is refused for good.
  return {next::finished, "gave up: " + answered + message};
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

}  // namespace

struct job_driver::impl {
  struct driven_job {
    std::string name;
    std::string job_id;
    std::shared_ptr<record_store> records;
    std::vector<slot_note> slots;  ///< io thread only (copied under mutex)
    std::size_t finished = 0;
    bool dirty = true;
    bool writing = false;
    std::optional<asio::steady_timer> wake_notes;
  };

  impl(options o, records_of r)
      : options_(std::move(o)),
        records_(std::move(r)),
        work_(asio::make_work_guard(io_)),
        thread_([this] { io_.run(); }) {}

  ~impl() {
    stopping_ = true;
    work_.reset();
    io_.stop();
    thread_.join();
  }

  awaitable<expected<http_client_response>> call(const std::string& url) {
    std::optional<expected<http_client_response>> answer;
    asio::steady_timer done(io_, asio::steady_timer::time_point::max());
    std::vector<std::pair<std::string, std::string>> headers{
        {"Content-Type", "text/plain"}};
    if (!options_.token.empty()) {
      headers.emplace_back("Authorization", "Bearer " + options_.token);
    }
    http_request_async(io_, "POST", url, "", headers, options_.call_timeout,
                       [&](expected<http_client_response> r) {
                         answer.emplace(std::move(r));
                         done.cancel();
                       });
    while (!answer) {
      co_await done.async_wait(asio::as_tuple(use_awaitable));
    }
    co_return std::move(*answer);
  }

  void note(driven_job& j, std::uint32_t slot, const std::string& state,
            const std::string& reason) {
    auto& n = j.slots[slot];
    // A call counts from when it was made: every call is a new "calling".
    if (n.state != state || state == "calling") n.since_ms = unix_ms();
    if (state == "calling") ++n.calls;
    if (n.state == state && n.reason == reason && state != "calling") return;
    n.state = state;
    n.reason = reason;
    if (state == "waiting" ||
        (state == "finished" && reason.rfind("gave up", 0) == 0)) {
      std::fprintf(stderr, "emnist-setup: job %s, replica %u: %s: %s\n",
                   j.name.c_str(), slot, state.c_str(), reason.c_str());
    }
    j.dirty = true;
    if (j.wake_notes) j.wake_notes->cancel();
  }

  awaitable<void> run_slot(std::shared_ptr<driven_job> j, std::uint32_t slot) {
    const std::string url =
        options_.gateway_url + "/function/emnist-train?job=" + j->name +
        "&worker_id=" + std::to_string(slot) + "&job_id=" + j->job_id;
    std::optional<std::chrono::milliseconds> pause;
    while (!stopping_) {
      note(*j, slot, "calling", "");
      auto answer = co_await call(url);
      if (stopping_) break;
      const auto v = judge(answer);
      if (v.what == verdict::next::finished) {
        note(*j, slot, "finished", v.reason);
        break;
      }
      if (v.what == verdict::next::call_again) {
        pause.reset();
        continue;
      }
      if (!pause) {
        pause = std::chrono::duration_cast<std::chrono::milliseconds>(
            v.busy ? first_busy_pause : first_pause);
      }
      char in[32];
      std::snprintf(in, sizeof in, "%.2f s",
                    static_cast<double>(pause->count()) / 1000.0);
      note(*j, slot, "waiting", v.reason + "; called again in " + in);
      asio::steady_timer t(io_, *pause);
      co_await t.async_wait(asio::as_tuple(use_awaitable));
      pause = std::min(*pause * 2,
                       v.busy ? std::min(max_busy_pause, options_.max_pause)
                              : options_.max_pause);
    }
    ++j->finished;
    if (j->wake_notes) j->wake_notes->cancel();
  }

  awaitable<void> keep_notes(std::shared_ptr<driven_job> j) {
    j->wake_notes.emplace(io_);
    for (;;) {
      const bool all_finished = j->finished == j->slots.size();
      if (j->dirty || all_finished) {
        j->dirty = false;
        driver_note d;
        d.job_id = j->job_id;
        d.host = host_;
        d.heartbeat_ms = unix_ms();
        d.slots = j->slots;
        // Best effort: the status shows what was last written.
        j->records->write_record(driver_record_name, encode_driver(d),
                                 [](expected<void>) {});
      }
      if (all_finished || stopping_) break;
      j->wake_notes->expires_after(notes_heartbeat);
      co_await j->wake_notes->async_wait(asio::as_tuple(use_awaitable));
    }
    std::lock_guard guard(mutex_);
    // Not a newer drive of the same name (the job was replaced).
    if (auto it = jobs_.find(j->name); it != jobs_.end() && it->second == j) {
      jobs_.erase(it);
    }
  }

  options options_;
  records_of records_;
  std::string host_ = host_name();
  std::atomic<bool> stopping_{false};
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<driven_job>> jobs_;  ///< by name
  std::thread thread_;  ///< last: it runs io_ while the rest is alive
};

job_driver::job_driver(options o, records_of records)
    : impl_(std::make_unique<impl>(std::move(o), std::move(records))) {}

job_driver::~job_driver() = default;

expected<void> job_driver::drive(const std::string& job,
                                 const std::string& job_id,
                                 std::uint32_t replicas) {
  auto records = impl_->records_(job);
  if (!records) return records.error();
  auto j = std::make_shared<impl::driven_job>();
  j->name = job;
  j->job_id = job_id;
  j->records = std::move(*records);
  j->slots.resize(replicas);
  {
    std::lock_guard guard(impl_->mutex_);
    impl_->jobs_[job] = j;
  }
  asio::post(impl_->io_, [this, j] {
    asio::co_spawn(impl_->io_, impl_->keep_notes(j), asio::detached);
    for (std::uint32_t i = 0; i < j->slots.size(); ++i) {
      asio::co_spawn(impl_->io_, impl_->run_slot(j, i), asio::detached);
    }
  });
  return {};
}

std::size_t job_driver::driving() const {
  std::lock_guard guard(impl_->mutex_);
  return impl_->jobs_.size();
}

void job_driver::stop() {
  impl_->stopping_ = true;
}

}  // namespace emnist
