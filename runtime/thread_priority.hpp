// Scheduling priority of the calling thread.
//
//   lower_thread_priority(5);   // this thread yields to the others
//
// The compute threads of a job run slightly below the other threads of the
// process, so that the work they wait for (the loader's next minibatch, the
// sync actor's reply) and the evaluation that decides when the job stops
// run promptly even when every core trains. Raising niceness needs no
// privilege.
#pragma once

#include "model/expected.hpp"

namespace emnist {

/// Adds `nice` (0..19) to the calling thread's niceness. A no-op for 0.
[[nodiscard]] expected<void> lower_thread_priority(int nice);

}  // namespace emnist
