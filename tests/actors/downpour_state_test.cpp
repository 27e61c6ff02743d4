// The Downpour bookkeeping on its own, against a store made of a vector:
// nothing pushed is lost, a fetch keeps a replica's own work, staleness is
// counted in steps, and a due push waits or coalesces.
#include "actors/downpour_state.hpp"

#include <doctest/doctest.h>

#include <deque>
#include <vector>

using namespace emnist;

namespace {

using kind = store_request::kind;

/// The parameter store as a vector and a count of pushes applied.
struct fake_store {
  std::vector<float> params;
  std::uint64_t version = 0;
  void add(const std::vector<float>& delta) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i] += delta[i];
    ++version;
  }
};

/// One training step: adds `by` to every parameter (exact in float for
/// small integers, so sums compare exactly).
void train(downpour_state& d, float by) {
  for (auto& p : d.parameters()) p += by;
}

}  // namespace

TEST_CASE(
    "downpour_state: one replica is plain SGD, and the store gets it all") {
  fake_store store{std::vector<float>(4, 10.0f)};
  downpour_settings settings;  // push and fetch every 2 steps
  downpour_state d(settings, 4);
  CHECK_FALSE(d.may_train());  // nothing fetched yet
  auto r = d.start();
  REQUIRE(r.what == kind::fetch);
  CHECK(r.known_version == downpour_state::mixed_version);
  d.fetched(store.params, store.version);
  REQUIRE(d.may_train());
  float trained = 0;
  for (int step = 1; step <= 10; ++step) {
    REQUIRE(d.may_train());
    train(d, 1.0f);
    trained += 1.0f;
    r = d.step_done();
    if (step % 2 == 1) {
      CHECK(r.what == kind::none);
      continue;
    }
    REQUIRE(r.what == kind::push_and_fetch);  // due together: one operation
    store.add(*r.delta);
    // Nothing but its own push happened: it knows the store's version, so
    // the store can answer "not modified".
    CHECK(r.known_version == store.version);
    CHECK(d.pushed(r.delta).what == kind::none);
    d.fetched(store.params, store.version);
  }
  CHECK(d.idle());
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(store.params[i] == 10.0f + trained);
    CHECK(d.parameters()[i] == 10.0f + trained);
  }
}

TEST_CASE(
    "downpour_state: a fetch keeps the replica's own pushes and pending work") {
  fake_store store{std::vector<float>(3, 0.0f)};
  downpour_settings settings;
  settings.push_every = 1;
  settings.fetch_every = 4;
  settings.push_buffers = 3;
  downpour_state d(settings, 3);
  (void)d.start();
  d.fetched(store.params, store.version);
  auto apply = [&](const store_request& r) {
    store.add(*r.delta);
    CHECK(d.pushed(r.delta).what == kind::none);
  };

  store.add({100.0f, 100.0f, 100.0f});  // another replica's push
  train(d, 1.0f);
  apply(d.step_done());
  train(d, 2.0f);
  apply(d.step_done());
  // Steps 3 and 4 are pushed, the fetch with step 4, and a slow network
  // serves the fetch before it applies them.
  train(d, 3.0f);
  const auto third = d.step_done();
  REQUIRE(third.what == kind::push);
  train(d, 4.0f);
  const auto fourth = d.step_done();
  REQUIRE(fourth.what == kind::push_and_fetch);
  const auto snapshot = store.params;  // 100 + 1 + 2
  const auto snapshot_version = store.version;
  apply(third);
  apply(fourth);
  // Step 5 is pushed while the fetch is still on its way.
  train(d, 5.0f);
  const auto fifth = d.step_done();
  REQUIRE(fifth.what == kind::push);
  apply(fifth);
  CHECK(store.params[0] == 100.0f + 15);  // nothing lost in the store
  // Steps 3 and 4 were pushed before the fetch was asked for, so the
  // replica counts on the copy holding them; this one does not, and the
  // next fetch brings them. Step 5, pushed after the request, is kept.
  d.fetched(snapshot, snapshot_version);
  CHECK(d.parameters()[0] == 100.0f + 1 + 2 + 5);
  for (int step = 6; step <= 8; ++step) {
    train(d, 0.0f);
    const auto r = d.step_done();
    if (r.pushes()) apply(r);
    if (r.fetches()) d.fetched(store.params, store.version);
  }
  CHECK(d.parameters()[0] == 115.0f);
  CHECK(d.idle());
}

TEST_CASE(
    "downpour_state: staleness is counted in steps, and a wait asks for the "
    "fetch") {
  fake_store store{std::vector<float>(2, 0.0f)};
  downpour_settings settings;
  settings.push_every = 100;  // no push gets in the way
  settings.fetch_every = 100;
  settings.max_staleness = 3;
  downpour_state d(settings, 2);
  (void)d.start();
  d.fetched(store.params, store.version);
  for (int step = 0; step < 3; ++step) {
    REQUIRE(d.may_train());
    train(d, 1.0f);
    CHECK(d.step_done().what == kind::none);
  }
  CHECK(d.staleness() == 3);
  CHECK(d.may_train());  // 3 steps past its fetch: still allowed
  train(d, 1.0f);
  (void)d.step_done();
  CHECK_FALSE(d.may_train());
  // What ends the wait: the pending delta goes with a fetch.
  auto r = d.unblock();
  REQUIRE(r.what == kind::push_and_fetch);
  CHECK(d.unblock().what == kind::none);  // already under way
  store.add(*r.delta);
  (void)d.pushed(r.delta);
  CHECK_FALSE(d.may_train());
  d.fetched(store.params, store.version);
  CHECK(d.staleness() == 0);
  CHECK(d.may_train());
}

TEST_CASE(
    "downpour_state: a push due with every buffer out coalesces, or waits") {
  for (const bool coalesce : {true, false}) {
    CAPTURE(coalesce);
    fake_store store{std::vector<float>(2, 0.0f)};
    downpour_settings settings;
    settings.push_every = 1;
    settings.fetch_every = 1000;
    settings.coalesce = coalesce;
    downpour_state d(settings, 2);
    (void)d.start();
    d.fetched(store.params, store.version);
    train(d, 1.0f);
    auto first = d.step_done();
    REQUIRE(first.what == kind::push);
    REQUIRE(d.may_train());
    train(d, 2.0f);
    CHECK(d.step_done().what == kind::none);  // no free buffer
    CHECK(d.may_train() == coalesce);
    if (coalesce) {
      train(d, 3.0f);
      CHECK(d.step_done().what == kind::none);
    }
    store.add(*first.delta);
    auto next = d.pushed(first.delta);
    REQUIRE(next.what == kind::push);  // the due push goes now
    // Coalesced: the steps since the first push travel as one delta.
    CHECK((*next.delta)[0] == (coalesce ? 5.0f : 2.0f));
    store.add(*next.delta);
    (void)d.pushed(next.delta);
    CHECK(d.idle());
    CHECK(store.params[0] == (coalesce ? 6.0f : 3.0f));
  }
}

TEST_CASE(
    "downpour_state: coalescing stops at max_coalesced_steps, then waits") {
  // A store that holds a push (memcached during an outage) must pause the
  // replica after a bounded number of steps, not let it train on alone.
  fake_store store{std::vector<float>(2, 0.0f)};
  downpour_settings settings;
  settings.push_every = 1;
  settings.fetch_every = 1000;
  settings.max_coalesced_steps = 3;
  downpour_state d(settings, 2);
  (void)d.start();
  d.fetched(store.params, store.version);
  train(d, 1.0f);
  auto held = d.step_done();
  REQUIRE(held.what == kind::push);  // the store holds this one
  int trained = 0;
  while (d.may_train() && trained < 100) {
    train(d, 1.0f);
    CHECK(d.step_done().what == kind::none);
    ++trained;
  }
  CHECK(trained == 3);
  CHECK(d.unblock().what == kind::none);  // nothing to do but wait
  store.add(*held.delta);
  auto next = d.pushed(held.delta);
  REQUIRE(next.pushes());           // with the fetch the wait asked for
  CHECK((*next.delta)[0] == 3.0f);  // the coalesced steps, none lost
  CHECK(d.may_train());
}
