// Test helpers (see test_support.hpp).
#include "test_support.hpp"

#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>

namespace emnist::test {

std::filesystem::path data_dir() {
  if (const char* env = std::getenv("EMNIST_TEST_DATA"); env && *env) {
    return env;
  }
  return EMNIST_TEST_DATA_DIR;
}

scratch_dir::scratch_dir() {
  std::random_device rd;
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto p = std::filesystem::temp_directory_path() /
             ("emnist-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a scratch directory");
}

scratch_dir::~scratch_dir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& file, const std::string& bytes,
                bool gzip) {
  if (gzip) {
    gzFile out = gzopen(file.c_str(), "wb");
    if (out == nullptr) throw std::runtime_error("gzopen " + file.string());
    gzwrite(out, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(out);
    return;
  }
  std::ofstream out(file, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

const job_data& bymerge_data(std::size_t train_count) {
  static std::map<std::size_t, std::unique_ptr<job_data>> cache;
  auto& slot = cache[train_count];
  if (!slot) {
    data_request r;
    r.dir = data_dir();
    r.split = "bymerge";
    r.train = *parse_slice("test[:" + std::to_string(train_count) + "]");
    r.eval = *parse_slice("test[100000:]");
    auto d = load_job_data(r);
    if (!d) throw std::runtime_error(d.error().message);
    slot = std::make_unique<job_data>(std::move(*d));
  }
  return *slot;
}

job_config small_job() {
  job_config cfg;
  cfg.data.train = "test[:20000]";
  cfg.data.eval = "test[100000:]";
  cfg.train.eval_every = 100;
  cfg.train.max_epochs = 4;
  return cfg;
}

}  // namespace emnist::test
