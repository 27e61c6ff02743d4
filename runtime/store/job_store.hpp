// What a job keeps in a store: its parameters and its records, two
// interfaces over one backend (the embedded store, or a memcached pool with
// one set of connections and threads for both).
//
//   auto store = make_store(store_options_of(cfg), shape.size());
//   store->parameters->push(delta, done);
//   store->records->write_record("replica:0", text, done);
#pragma once

#include <memory>

#include "runtime/store/parameter_store.hpp"
#include "runtime/store/record_store.hpp"

namespace emnist {

struct job_store {
  std::shared_ptr<parameter_store> parameters;
  std::shared_ptr<record_store> records;
};

}  // namespace emnist
