// Which store a job uses and its settings: what make_store() takes. The
// job's configuration maps onto it in jobs/store_config.hpp (the store
// knows nothing of the configuration).
#pragma once

#include "runtime/store/memcached_options.hpp"

namespace emnist {

enum class store_backend {
  memory,     ///< embedded in this process
  memcached,  ///< a memcached pool shared by every replica of the job
};

struct store_options {
  store_backend kind = store_backend::memory;
  memcached_options memcached;  ///< for store_backend::memcached
};

}  // namespace emnist
