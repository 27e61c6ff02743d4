// A job's small named records beside its parameters: the job's metadata,
// each replica's progress, the flag that says the target was reached. What
// runtime/store/job_state.hpp reads and writes; the embedded store and the
// memcached store implement it.
//
//   records->write_record("replica:0", text, [](expected<void> r) { ... });
//   records->read_record("meta", [](expected<std::optional<std::string>> r) {
//     if (r && *r) use(**r);   // nullopt: no such record
//   });
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "base/expected.hpp"

namespace emnist {

class record_store {
 public:
  using completion = std::function<void(expected<void>)>;
  /// A record's value, or nullopt when there is none.
  using record_completion =
      std::function<void(expected<std::optional<std::string>>)>;

  virtual ~record_store() = default;

  /// `name` is [a-z0-9:_-], short; values are at most 64 KiB. Thread-safe;
  /// `done` runs once, on a thread of the store's choosing (the caller's
  /// own for the embedded store).
  virtual void read_record(const std::string& name, record_completion done) = 0;
  /// Overwrites the record.
  virtual void write_record(const std::string& name, std::string value,
                            completion done) = 0;
  /// Writes the record only when there is none (it was lost: a server
  /// restarted empty); one that is there is left as it is.
  virtual void add_record(const std::string& name, std::string value,
                          completion done) = 0;
  /// Removes the record; removing one that does not exist succeeds.
  virtual void erase_record(const std::string& name, completion done) = 0;
};

}  // namespace emnist
