// The evaluator actor of a job: scores the store's current parameters on
// the evaluation samples, a chunk of rows per message so that a stop or an
// exit gets through between chunks, while the replicas train. It has a
// thread of its own: it decides when the job stops, and on the threads the
// replicas share it got a 1/(2N+1) share of them.
//
//   idle --(eval, tag)--> fetch from the store --> (chunk) ... (chunk)
//        --> (evaluated, tag, accuracy, outcome) to the coordinator --> idle
#pragma once

#include <memory>

#include "actors/messages.hpp"
#include "actors/settings.hpp"
#include "model/dataset.hpp"
#include "model/mlp.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

struct evaluator_setup {
  evaluator_settings settings;
  mlp_shape shape;
  data_view data;
  std::shared_ptr<parameter_store> store;
  coordinator_actor coordinator;
};

/// Spawns the evaluator on a thread of its own, linked to `parent` (its
/// coordinator). One evaluation at a time: the coordinator waits for
/// (evaluated) before it sends the next (eval).
[[nodiscard]] evaluator_actor spawn_evaluator(caf::local_actor& parent,
                                              evaluator_setup setup);

}  // namespace emnist
