// Chunked evaluation of the store's parameters.
#include "actors/evaluator.hpp"

namespace emnist {
namespace {

struct evaluator_state {
  evaluator_setup setup;
  caf::actor coordinator;
  mlp_evaluator model;
  std::vector<float> params;
  std::size_t correct = 0;

  explicit evaluator_state(evaluator_setup s, caf::actor c)
      : setup(std::move(s)),
        coordinator(std::move(c)),
        model(setup.shape, setup.chunk_rows),
        params(setup.shape.size()) {}
};

}  // namespace

caf::behavior evaluator_actor(caf::event_based_actor* self,
                              evaluator_setup setup, caf::actor coordinator) {
  auto st = std::make_shared<evaluator_state>(std::move(setup),
                                              std::move(coordinator));
  return {
      [self, st](eval_atom, std::uint64_t tag) {
        st->correct = 0;
        auto me = caf::actor_cast<caf::actor>(self);
        st->setup.store->fetch(
            st->params, parameter_store::mixed_version,
            [me, tag](expected<std::uint64_t> r) {
              caf::anon_send(
                  me, chunk_atom::value, tag, std::uint64_t{0},
                  r ? 0 : 1 + static_cast<std::int32_t>(r.error().code),
                  r ? std::string{} : r.error().message);
            });
      },
      [self, st](chunk_atom, std::uint64_t tag, std::uint64_t begin,
                 std::int32_t code, const std::string& why) {
        if (code != 0) {
          self->send(st->coordinator, evaluated_atom::value, tag, 0.0, code,
                     "evaluator: " + why);
          return;
        }
        const std::size_t total = st->setup.data.size();
        const std::size_t end =
            std::min<std::size_t>(begin + st->setup.chunk_rows, total);
        st->correct +=
            st->model.count_correct(st->params, st->setup.data, begin, end);
        if (end < total) {
          self->send(self, chunk_atom::value, tag, std::uint64_t{end},
                     std::int32_t{0}, std::string{});
          return;
        }
        self->send(
            st->coordinator, evaluated_atom::value, tag,
            static_cast<double>(st->correct) / static_cast<double>(total),
            std::int32_t{0}, std::string{});
      },
  };
}

}  // namespace emnist
