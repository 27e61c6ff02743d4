// The evaluation schedule on its own: due points, one evaluation at a
// time, and the hold that keeps a job from training away from an
// evaluation it owes.
#include "actors/eval_schedule.hpp"

#include <doctest/doctest.h>

using namespace emnist;

TEST_CASE("eval_schedule: due every period of steps, one at a time") {
  eval_schedule s(100, 0);
  CHECK_FALSE(s.progress(99));
  CHECK(s.progress(100));  // due: starts
  CHECK(s.running());
  CHECK_FALSE(s.progress(150));
  CHECK_FALSE(s.progress(210));  // 200 fell due while one runs: it waits
  CHECK(s.evaluated());          // ...and starts when that one ends
  CHECK(s.running());
  CHECK_FALSE(s.evaluated());  // nothing else owed
  CHECK_FALSE(s.running());
  CHECK_FALSE(s.progress(299));
  CHECK(s.progress(300));
}

TEST_CASE("eval_schedule: a jump over several due points owes one evaluation") {
  eval_schedule s(100, 1000);  // a resumed job: the first is due at 1100
  CHECK_FALSE(s.progress(1099));
  CHECK(s.progress(1450));
  CHECK_FALSE(s.evaluated());
  CHECK_FALSE(s.progress(1499));  // the next one is due at 1500, on the grid
  CHECK(s.progress(1500));
}

TEST_CASE(
    "eval_schedule: replicas hold a whole period past an owed evaluation") {
  eval_schedule s(100, 0);
  CHECK(s.progress(100));
  CHECK_FALSE(s.hold(150));
  CHECK_FALSE(s.hold(199));
  CHECK_FALSE(s.progress(200));  // due at 200, but one runs
  CHECK(s.hold(200));            // the evaluator is a whole period behind
  CHECK_FALSE(s.progress(260));
  CHECK(s.hold(260));
  // It ends; the one due at 200 starts at once, and holds from 300.
  CHECK(s.evaluated());
  CHECK_FALSE(s.hold(260));
  CHECK(s.hold(300));
  CHECK_FALSE(s.evaluated());
  CHECK_FALSE(s.hold(1000));
}

TEST_CASE(
    "eval_schedule: a failed evaluation is asked for again, holding nobody") {
  eval_schedule s(100, 0);
  CHECK(s.progress(120));
  s.retry_later();  // blocks missing: the replicas restore them
  CHECK_FALSE(s.running());
  CHECK_FALSE(s.hold(500));  // they must train on to restore them
  CHECK(s.owed_since() == 100u);
  CHECK(s.progress(130));  // asked for again
  CHECK(s.hold(200));
}

TEST_CASE("eval_schedule: the final evaluation waits for a running one") {
  eval_schedule s(100, 0);
  CHECK(s.progress(100));
  CHECK_FALSE(s.start_extra());
  CHECK_FALSE(s.evaluated());
  CHECK(s.start_extra());
  CHECK(s.running());
}
