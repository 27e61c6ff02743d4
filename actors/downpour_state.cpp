// Downpour bookkeeping: decisions and the arithmetic on L, B and P.
#include "actors/downpour_state.hpp"

#include <algorithm>

namespace emnist {

downpour_state::downpour_state(const downpour_settings& settings,
                               std::size_t parameters, std::uint64_t steps)
    : settings_(settings),
      local_(parameters),
      base_(parameters),
      pushed_(parameters),
      steps_(steps),
      request_steps_(steps),
      fresh_from_(steps) {
  settings_.push_every = std::max<std::uint64_t>(settings_.push_every, 1);
  settings_.fetch_every = std::max<std::uint64_t>(settings_.fetch_every, 1);
  settings_.push_buffers = std::max<std::size_t>(settings_.push_buffers, 1);
  settings_.max_coalesced_steps =
      std::max<std::uint64_t>(settings_.max_coalesced_steps, 1);
  for (std::size_t i = 0; i < settings_.push_buffers; ++i) {
    free_buffers_.push_back(std::make_shared<std::vector<float>>(parameters));
  }
}

store_request downpour_state::start() {
  return fetch();
}

bool downpour_state::too_stale() const {
  return settings_.max_staleness >= 0 &&
         staleness() > static_cast<std::uint64_t>(settings_.max_staleness);
}

bool downpour_state::may_train() const {
  const bool push_blocks =
      push_due_ && (!settings_.coalesce ||
                    steps_since_push_ >= settings_.max_coalesced_steps);
  return started_ && !push_blocks && !too_stale();
}

store_request downpour_state::step_done() {
  ++steps_;
  ++steps_since_push_;
  const bool fetch_now =
      steps_ % settings_.fetch_every == 0 && !fetch_in_flight_;
  if (steps_ % settings_.push_every == 0) {
    if (auto r = push(fetch_now)) return *r;
    push_due_ = true;
    if (fetch_now) fetch_wanted_ = true;
    return {};
  }
  if (fetch_now) return fetch();
  return {};
}

store_request downpour_state::unblock() {
  if (may_train() || fetch_in_flight_ || !started_) return {};
  if (push_due_) {
    // The push waits for a buffer; the fetch goes with it.
    fetch_wanted_ = true;
    return {};
  }
  if (auto r = push(true)) return *r;
  return fetch();  // unreachable: without push_due_ a buffer is free
}

store_request downpour_state::pushed(delta_buffer buffer) {
  free_buffers_.push_back(std::move(buffer));
  if (!push_due_) return {};
  push_due_ = false;
  // Past the bound, the replica waits for a fetch: it goes with this push.
  auto r = push(too_stale());
  if (!r) {
    push_due_ = true;  // another buffer came back first
    return {};
  }
  return *r;
}

std::optional<store_request> downpour_state::push(bool then_fetch) {
  then_fetch = (then_fetch || fetch_wanted_) && !fetch_in_flight_;
  if (steps_since_push_ == 0) {
    if (then_fetch) return fetch();
    return store_request{};
  }
  if (free_buffers_.empty()) return std::nullopt;
  delta_buffer delta = std::move(free_buffers_.back());
  free_buffers_.pop_back();
  float* d = delta->data();
  float* l = local_.data();
  float* b = base_.data();
  const std::size_t n = local_.size();
  if (fetch_in_flight_) {
    // The fetch in flight will not see this push: remember it in P.
    float* p = pushed_.data();
    if (pushed_valid_) {
      for (std::size_t i = 0; i < n; ++i) {
        d[i] = l[i] - b[i];
        b[i] = l[i];
        p[i] += d[i];
      }
    } else {
      for (std::size_t i = 0; i < n; ++i) {
        d[i] = l[i] - b[i];
        b[i] = l[i];
        p[i] = d[i];
      }
      pushed_valid_ = true;
    }
    ++pushes_since_request_;
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      d[i] = l[i] - b[i];
      b[i] = l[i];
    }
  }
  ++known_version_;
  steps_since_push_ = 0;
  store_request r;
  r.delta = std::move(delta);
  if (then_fetch) {
    r.what = store_request::kind::push_and_fetch;
    r.known_version = begin_fetch();
  } else {
    r.what = store_request::kind::push;
  }
  return r;
}

store_request downpour_state::fetch() {
  store_request r;
  r.what = store_request::kind::fetch;
  r.known_version = begin_fetch();
  return r;
}

std::uint64_t downpour_state::begin_fetch() {
  fetch_wanted_ = false;
  fetch_in_flight_ = true;
  pushed_valid_ = false;  // P = 0: the fetch will see every push so far
  version_at_request_ = known_version_;
  pushes_since_request_ = 0;
  request_steps_ = steps_;
  return have_version_ ? known_version_ : mixed_version;
}

void downpour_state::fetched(std::span<const float> fetched,
                             std::uint64_t version) {
  fetch_in_flight_ = false;
  const bool nothing_new =
      started_ && have_version_ && version == version_at_request_;
  if (!nothing_new) apply(fetched);  // the first time: L = B = S
  started_ = true;
  pushed_valid_ = false;
  have_version_ = version != mixed_version;
  known_version_ = version + pushes_since_request_;
  fresh_from_ = request_steps_;
}

void downpour_state::fetch_failed() {
  fetch_in_flight_ = false;
}

void downpour_state::apply(std::span<const float> fetched) {
  const float* s = fetched.data();
  float* l = local_.data();
  float* b = base_.data();
  const std::size_t n = local_.size();
  if (pushed_valid_) {
    const float* p = pushed_.data();
    for (std::size_t i = 0; i < n; ++i) {
      const float pending = l[i] - b[i];
      b[i] = s[i] + p[i];
      l[i] = b[i] + pending;
    }
  } else {
    for (std::size_t i = 0; i < n; ++i) {
      const float pending = l[i] - b[i];
      b[i] = s[i];
      l[i] = s[i] + pending;
    }
  }
}

store_request downpour_state::flush() {
  if (steps_since_push_ == 0) return {};
  if (auto r = push(false)) return *r;
  push_due_ = true;  // goes when a buffer comes back
  return {};
}

bool downpour_state::idle() const {
  return steps_since_push_ == 0 && !push_due_ &&
         free_buffers_.size() == settings_.push_buffers && !fetch_in_flight_;
}

}  // namespace emnist
