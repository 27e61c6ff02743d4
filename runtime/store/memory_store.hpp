// The embedded parameter store: the job's parameters in this process, as
// blocks each guarded by its own mutex, so that replicas pushing to
// different blocks never wait for each other. Operations complete inline.
//
//   auto store = emnist::make_memory_store(79'100, 16'384);
//   store.parameters->push(delta, done);
#pragma once

#include <memory>

#include "runtime/store/job_store.hpp"

namespace emnist {

/// Default block size: 64 KiB of floats, small enough that two replicas
/// rarely contend, large enough that locking costs nothing.
inline constexpr std::size_t default_memory_block_floats = 16384;

/// The parameters and the records, both in this process.
[[nodiscard]] job_store make_memory_store(
    std::size_t floats, std::size_t block_floats = default_memory_block_floats);

}  // namespace emnist
