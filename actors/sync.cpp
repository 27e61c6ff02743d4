// Store operations on behalf of compute, answered by message.
#include "actors/sync.hpp"

namespace emnist {

caf::behavior sync_actor(caf::event_based_actor* /*self*/,
                         std::shared_ptr<replica_context> ctx,
                         caf::actor compute) {
  return {
      [ctx, compute](push_atom, std::uint32_t index) {
        ctx->store->push(ctx->push_buffers[index],
                         [compute, index](expected<void> r) {
                           caf::anon_send(compute, pushed_atom::value, index,
                                          r.has_value(),
                                          r ? std::string{} : r.error().message);
                         });
      },
      [ctx, compute](fetch_atom, std::uint64_t known_version) {
        ctx->store->fetch(ctx->fetch_buffer, known_version,
                          [compute](expected<std::uint64_t> r) {
          caf::anon_send(compute, fetched_atom::value, r.has_value(),
                         r ? *r : parameter_store::mixed_version,
                         r ? std::string{} : r.error().message);
        });
      },
  };
}

}  // namespace emnist
