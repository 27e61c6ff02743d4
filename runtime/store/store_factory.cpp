// The store a job's options ask for.
#include "runtime/store/store_factory.hpp"

#include "runtime/store/memcached_store.hpp"
#include "runtime/store/memory_store.hpp"

namespace emnist {

expected<job_store> make_store(const store_options& options,
                               std::size_t floats) {
  switch (options.kind) {
    case store_backend::memory:
      return make_memory_store(floats);
    case store_backend::memcached:
      return make_memcached_store(floats, options.memcached);
  }
  return make_error(errc::internal, "make_store: unknown store kind");
}

}  // namespace emnist
