// The evaluator actor of a job: scores the store's current parameters on
// the evaluation samples, a chunk of rows per message so that it never
// holds a scheduler thread for long, while the replicas keep training.
//
//   idle --(eval, tag)--> fetch from the store --> (chunk) ... (chunk)
//        --> (evaluated, tag, accuracy, code, why) to the coordinator --> idle
//   (code 0: success; else 1 + the errc of the failed fetch)
#pragma once

#include <memory>

#include "actors/messages.hpp"
#include "model/dataset.hpp"
#include "model/mlp.hpp"
#include "runtime/store/parameter_store.hpp"

namespace emnist {

struct evaluator_setup {
  mlp_shape shape;
  data_view data;
  std::shared_ptr<parameter_store> store;
  std::size_t chunk_rows = 1024;
};

/// One evaluation at a time: the coordinator waits for (evaluated) before
/// it sends the next (eval).
caf::behavior evaluator_actor(caf::event_based_actor* self,
                              evaluator_setup setup, caf::actor coordinator);

}  // namespace emnist
