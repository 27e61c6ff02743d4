// Which store a job uses and its settings: what make_store() takes. The
// job's configuration maps onto it in runtime/config/store_config.hpp.
#pragma once

#include "runtime/store/memcached_options.hpp"

namespace emnist {

enum class store_kind {
  memory,     ///< embedded in this process
  memcached,  ///< a memcached pool shared by every replica of the job
};

struct store_options {
  store_kind kind = store_kind::memory;
  memcached_options memcached;  ///< for store_kind::memcached
};

}  // namespace emnist
