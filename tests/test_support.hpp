// Helpers shared by the tests: where the real EMNIST files are, scratch
// directories, and the standard data of the end-to-end tests.
#pragma once

#include <filesystem>
#include <string>

#include "base/expected.hpp"
#include "model/data_files.hpp"
#include "runtime/config/config.hpp"

namespace emnist::test {

/// The message of `e`'s error, or "" when it holds a value. For
/// REQUIRE_MESSAGE(e.has_value(), test::error_text(e)): doctest evaluates
/// a message on success too when it reports passing assertions (-s), and
/// e.error() on a value throws std::bad_variant_access.
template <class T>
std::string error_text(const expected<T>& e) {
  return e.has_value() ? std::string() : e.error().message;
}

/// The real EMNIST files: $EMNIST_TEST_DATA, else the shared folder beside
/// the checkout (set at configure time).
std::filesystem::path data_dir();

/// A fresh empty directory under the system temp dir, removed on scope exit.
class scratch_dir {
 public:
  scratch_dir();
  ~scratch_dir();
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

/// Writes `bytes` to `file`, gzip-compressed when `gzip` is true.
void write_file(const std::filesystem::path& file, const std::string& bytes,
                bool gzip = false);

/// The ByMerge test file, loaded once per test process and shared:
/// train = test[:train_count], eval = test[100000:].
const job_data& bymerge_data(std::size_t train_count = 100000);

/// The small job of the actor tests, on bymerge_data(20000): train
/// test[:20000], evaluate test[100000:] every 100 steps, 4 passes at most;
/// the rest as config/default.toml.
job_config small_job();

}  // namespace emnist::test
