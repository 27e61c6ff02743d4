// A job's small named records beside its parameters: the job's metadata,
// each replica's progress, the flag that says the target was reached. What
// jobs/job_records.hpp reads and writes; the embedded store and the
// memcached store implement it.
//
//   records->write_record("replica:0", text, [](expected<void> r) { ... });
//   records->read_record("meta", [](expected<std::optional<std::string>> r) {
//     if (r && *r) use(**r);   // nullopt: no such record
//   });
//   // A claim: write only if nobody wrote since the read (token 0: only
//   // if there is no record), else aborted.
//   records->read_versioned("replica:0", [&](auto r) { token = r->token; });
//   records->replace_record("replica:0", mine, token, [](auto t) { ... });
#pragma once

#include <cstdint>
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
  /// A record's value and the token of that value, for a conditional
  /// write (memcached's CAS).
  struct versioned {
    std::string value;
    std::uint64_t token = 0;
  };
  using versioned_completion =
      std::function<void(expected<std::optional<versioned>>)>;
  /// The token of the value written.
  using token_completion = std::function<void(expected<std::uint64_t>)>;

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
  /// The record with its token, or nullopt when there is none.
  virtual void read_versioned(const std::string& name,
                              versioned_completion done) = 0;
  /// Writes the record only if it still holds the value read with `token`,
  /// or, with token 0, only if there is none. Another writer first:
  /// aborted (with token 0: the record exists); the record gone:
  /// not_found. Completes with the token of the value written.
  virtual void replace_record(const std::string& name, std::string value,
                              std::uint64_t token, token_completion done) = 0;
};

}  // namespace emnist
