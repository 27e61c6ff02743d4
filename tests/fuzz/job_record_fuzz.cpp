// The job's records as the store hands them back: a replica's progress
// and the job's metadata, from any bytes.
#include <string>

#include "fuzz/fuzz_target.hpp"
#include "jobs/job_records.hpp"

EMNIST_FUZZ_TARGET(job_record) {
  using namespace emnist;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto record = decode_record(text, "emnist:fuzz:r:0");
  if (record) {
    // What decodes encodes back to a record that decodes the same.
    auto again = decode_record(encode_record(*record), "again");
    fuzz::check(again.has_value(), "an encoded record decodes");
    fuzz::check(
        again->id == record->id && again->epochs == record->epochs &&
            again->steps == record->steps &&
            again->samples == record->samples && again->done == record->done &&
            again->reached == record->reached && again->stop == record->stop &&
            again->error == record->error,
        "a record survives encode and decode");
  } else {
    fuzz::check(
        record.error().message.find("emnist:fuzz:r:0") != std::string::npos,
        "a record error names the key");
  }
  auto meta = decode_meta(text, "emnist:fuzz:meta");
  if (!meta) {
    fuzz::check(
        meta.error().message.find("emnist:fuzz:meta") != std::string::npos,
        "a metadata error names the key");
  }
  return record.has_value() || meta.has_value();
}
