// Chunked evaluation of the store's parameters.
#include "actors/evaluator.hpp"

namespace emnist {
namespace {

struct evaluator_state {
  static constexpr const char* name = "evaluator";
  evaluator_setup setup;
  std::unique_ptr<mlp_evaluator> model;
  /// Written by the store's fetch; the callback keeps it alive.
  std::shared_ptr<std::vector<float>> params;
  std::size_t correct = 0;
};

evaluator_actor::behavior_type evaluator(
    evaluator_actor::stateful_pointer<evaluator_state> self,
    evaluator_setup setup) {
  auto& init = self->state;
  init.setup = std::move(setup);
  init.model = std::make_unique<mlp_evaluator>(init.setup.shape,
                                               init.setup.settings.chunk_rows);
  init.params = std::make_shared<std::vector<float>>(init.setup.shape.size());
  return {
      [self](eval_atom, std::uint64_t tag) {
        auto& st = self->state;
        st.correct = 0;
        auto me = caf::actor_cast<evaluator_actor>(self);
        auto params = st.params;
        st.setup.store->fetch(
            *params, parameter_store::mixed_version,
            [me, tag, params](expected<std::uint64_t> r) {
              caf::anon_send(me, chunk_atom::value, tag, std::uint64_t{0},
                             r ? outcome{} : outcome{r.error()});
            });
      },
      [self](chunk_atom, std::uint64_t tag, std::uint64_t begin,
             outcome failure) {
        auto& st = self->state;
        if (failure) {
          failure->message = "evaluator: " + failure->message;
          self->send(st.setup.coordinator, evaluated_atom::value, tag, 0.0,
                     std::move(failure));
          return;
        }
        const std::size_t total = st.setup.data.size();
        const std::size_t end =
            std::min<std::size_t>(begin + st.setup.settings.chunk_rows, total);
        // The parameters stay as fetched until the last chunk: W1 is
        // packed for the product once an evaluation.
        if (begin == 0) st.model->load(*st.params);
        st.correct += st.model->count_loaded(st.setup.data, begin, end);
        if (end < total) {
          self->send(self, chunk_atom::value, tag, std::uint64_t{end},
                     outcome{});
          return;
        }
        self->send(st.setup.coordinator, evaluated_atom::value, tag,
                   static_cast<double>(st.correct) / static_cast<double>(total),
                   outcome{});
      },
  };
}

}  // namespace

evaluator_actor spawn_evaluator(caf::local_actor& parent,
                                evaluator_setup setup) {
  return parent.spawn<caf::linked + caf::detached>(evaluator, std::move(setup));
}

}  // namespace emnist
