// Config loading: defaults, file, environment aliases, --set; every error
// names the file and line (or the override) and the key.
#include "runtime/config/config.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "test_support.hpp"

using namespace emnist;

namespace {

std::string config_error(const std::string& toml_text,
                         std::vector<std::string> sets = {}) {
  test::scratch_dir tmp;
  const auto file = tmp.path() / "job.toml";
  test::write_file(file, toml_text);
  config_sources src;
  src.file = file.string();
  src.overrides = std::move(sets);
  auto c = load_config(src);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().code == errc::invalid_argument);
  // Messages name the file; replace its random path for the checks.
  std::string msg = c.error().message;
  const auto at = msg.find(file.string());
  if (at != std::string::npos)
    msg.replace(at, file.string().size(), "job.toml");
  return msg;
}

}  // namespace

TEST_CASE("config: the shipped default.toml equals the built-in defaults") {
  config_sources src;
  src.file = std::string(EMNIST_SOURCE_DIR) + "/config/default.toml";
  auto c = load_config(src);
  REQUIRE_MESSAGE(c.has_value(), test::error_text(c));
  CHECK(to_toml(*c) == to_toml(job_config{}));
  // Every key is in the file as written (a key it lacks still loads, with
  // its default), under its section, after a comment that says what it is
  // (one comment may cover the keys right below it).
  std::ifstream in(*src.file);
  REQUIRE(in);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  for (const auto& k : config_keys()) {
    CAPTURE(k.path);
    const auto dot = k.path.find('.');
    const std::string section = "[" + k.path.substr(0, dot) + "]";
    const std::string assignment = k.path.substr(dot + 1) + " = ";
    std::optional<std::size_t> at;
    bool in_section = false;
    for (std::size_t i = 0; i < lines.size() && !at; ++i) {
      if (!lines[i].empty() && lines[i][0] == '[') {
        in_section = lines[i] == section;
      } else if (in_section && lines[i].rfind(assignment, 0) == 0) {
        at = i;
      }
    }
    REQUIRE(at.has_value());
    std::size_t above = *at;
    while (above > 0 && lines[above - 1].find(" = ") != std::string::npos &&
           lines[above - 1][0] != '#') {
      --above;
    }
    REQUIRE(above > 0);
    CHECK(lines[above - 1].rfind("#", 0) == 0);
  }
}

TEST_CASE("config: file values, environment aliases and --set, in order") {
  test::scratch_dir tmp;
  const auto file = tmp.path() / "job.toml";
  test::write_file(file,
                   "[train]\nreplicas = 2\nbatch_size = 64\n"
                   "learning_rate = 1\n[data]\ntrain = \"test[:10]\"\n");
  config_sources src;
  src.file = file.string();
  src.environment = {
      {"batch_size", "128"}, {"alpha", "0.05"}, {"number_of_workers", "4"}};
  src.overrides = {"train.replicas=3", "data.eval=test[100000:]",
                   "model.seed=7", "sync.store=memory"};
  auto c = load_config(src);
  REQUIRE_MESSAGE(c.has_value(), test::error_text(c));
  CHECK(c->train.replicas == 3);          // --set beats environment and file
  CHECK(c->train.batch_size == 128);      // environment beats file
  CHECK(c->train.learning_rate == 0.05);  // alias alpha
  CHECK(c->data.train == "test[:10]");
  CHECK(c->data.eval == "test[100000:]");  // not TOML: read as a string
  CHECK(c->model.seed == 7);
  CHECK(c->model.hidden == 100);  // untouched default
}

TEST_CASE("config: errors name file, line and key") {
  CHECK(config_error("[train]\nreplicas = 2\nreplica = 3\n") ==
        "job.toml:3: unknown key 'train.replica' (did you mean "
        "train.replicas?)");
  CHECK(config_error("[train]\n\nbatch_size = \"big\"\n") ==
        "job.toml:3: train.batch_size: expected an integer, got string 'big'");
  CHECK(config_error("[model]\ndropout = 1.5\n") ==
        "job.toml:2: model.dropout: 1.5 is out of range [0, 0.95]");
  CHECK(config_error("[train]\nreplicas = 0\n") ==
        "job.toml:2: train.replicas: 0 is out of range [1, 1024]");
  CHECK(config_error("[sync]\nstore = \"redis\"\n") ==
        "job.toml:2: sync.store: 'redis' is not one of: memory, memcached");
  CHECK(config_error("[data]\nsplit = \"kanji\"\n")
            .find("job.toml:2: data.split: 'kanji' is not one of") == 0);
  CHECK(config_error("[nope]\nx = 1\n") == "job.toml:2: unknown key 'nope.x'");
  CHECK(config_error("train = 3\n") ==
        "job.toml:1: 'train' must be a table ([train])");
  CHECK(config_error("[train\nreplicas = 2\n").find("job.toml:1:") == 0);
  CHECK(config_error("[data]\ntrain = \"test[a:]\"\n")
            .find("job.toml:2: data.train: data selection 'test[a:]'") == 0);
}

TEST_CASE("config: a misspelled EMNIST_ variable is named, the others not") {
  std::vector<std::string> warnings;
  config_sources src;
  src.environment = {{"EMNIST_TRAIN_REPLICA", "2"},
                     {"EMNIST_TRAIN_REPLICAS", "3"},
                     {"EMNIST_FUNCTION", "train"},
                     {"EMNIST_SERVE_MODE", "watchdog"},
                     {"EMNIST_DIR", "/data"}};
  src.warnings = &warnings;
  auto c = load_config(src);
  REQUIRE_MESSAGE(c.has_value(), test::error_text(c));
  CHECK(c->train.replicas == 3);
  // Read elsewhere (serve, the image's entrypoint, the data directory):
  // no warning. The typo: one, with the closest key.
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0] ==
        "environment variable EMNIST_TRAIN_REPLICA names no configuration key "
        "(did you mean EMNIST_TRAIN_REPLICAS?): ignored");
}

TEST_CASE("config: a key's value as JSON text reads back through --set") {
  job_config cfg;
  cfg.data.train = "test[:10]\"\\\x01";
  cfg.train.learning_rate = 0.05;
  CHECK(json_value_of(cfg, "data.train") == R"("test[:10]\"\\\u0001")");
  CHECK(json_value_of(cfg, "sync.servers") == R"(["127.0.0.1:11211"])");
  CHECK(json_value_of(cfg, "train.max_epochs") == "20");
  CHECK(json_value_of(cfg, "train.nothing").empty());
  config_sources src;
  for (const char* k : {"train.learning_rate", "sync.servers"}) {
    src.overrides.push_back(std::string(k) + "=" + json_value_of(cfg, k));
  }
  auto back = load_config(src);
  REQUIRE_MESSAGE(back.has_value(), test::error_text(back));
  CHECK(back->train.learning_rate == 0.05);
  CHECK(back->sync.servers == cfg.sync.servers);
}

TEST_CASE("config: --set and environment errors name their source") {
  CHECK(config_error("", {"train.replicas=many"}) ==
        "--set train.replicas=many: train.replicas: expected an integer, got "
        "string 'many'");
  CHECK(config_error("", {"train.replicas"}) ==
        "--set train.replicas: expected key=value");
  CHECK(config_error("", {"train.epochs=3"}) ==
        "--set train.epochs=3: unknown key 'train.epochs'");
  CHECK(config_error("", {"train.learning_rate=-1"}) ==
        "--set train.learning_rate=-1: train.learning_rate: -1 is out of "
        "range [1e-09, 100]");

  config_sources src;
  src.environment = {{"hidden_size", "0"}};
  auto c = load_config(src);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message ==
        "environment variable hidden_size=0: model.hidden: 0 is out of range "
        "[1, 65536]");
}

TEST_CASE("config: the memcached pool as an array, or one string") {
  config_sources src;
  src.overrides = {"sync.store=memcached",
                   "sync.servers=[\"10.0.0.1:11211\", \"10.0.0.2:11212\"]"};
  auto c = load_config(src);
  REQUIRE_MESSAGE(c.has_value(), test::error_text(c));
  CHECK(c->sync.servers ==
        std::vector<std::string>{"10.0.0.1:11211", "10.0.0.2:11212"});
  src.overrides = {"sync.servers=127.0.0.1:11311"};
  c = load_config(src);
  REQUIRE(c.has_value());
  CHECK(c->sync.servers == std::vector<std::string>{"127.0.0.1:11311"});
  CHECK(to_toml(*c).find("servers = [ '127.0.0.1:11311' ]") !=
        std::string::npos);

  CHECK(
      config_error("", {"sync.servers=[1, 2]"}) ==
      "--set sync.servers=[1, 2]: sync.servers: expected an array of strings, "
      "got an array");
  CHECK(config_error("[sync]\nservers = [\"localhost\"]\n") ==
        "job.toml:2: sync.servers: 'localhost': expected host:port");
}

TEST_CASE("config: hostile input is quoted safely, bounds read right") {
  // An open-ended bound is "at least", not INT64_MIN.
  CHECK(config_error("", {"train.eval_every=-1"}) ==
        "--set train.eval_every=-1: train.eval_every: -1 is out of range: at "
        "least 0");
  // Raw bytes are escaped, a huge key is cut with its length.
  const auto raw = config_error("", {std::string("train.\x1b[2Jx=1")});
  CHECK(raw.find("\\x1b[2Jx") != std::string::npos);
  CHECK(raw.find('\x1b') == std::string::npos);
  const auto huge =
      config_error("", {"train." + std::string(1'000'000, 'k') + "=1"});
  CHECK(huge.size() < 600);
  CHECK(huge.find("(1000008 bytes)") != std::string::npos);
  // A value that is not UTF-8 cannot be written back as TOML: refused,
  // naming the key and the byte (libFuzzer found it printed as other
  // text). UTF-8 beyond ASCII is kept as it is.
  CHECK(config_error("", {std::string("sync.job=ab\xf7"
                                      "cd")}) ==
        "--set sync.job=ab\\xf7cd: sync.job: the value is not UTF-8 text "
        "(byte 2, '\\xf7')");
  CHECK(!config_error("", {std::string("sync.job=\xed\xa0\x80")}).empty());
  config_sources utf8;
  utf8.overrides = {"sync.job=caf\xc3\xa9-\xe2\x82\xac"};
  auto accented = load_config(utf8);
  REQUIRE(accented.has_value());
  CHECK(accented->sync.job == "caf\xc3\xa9-\xe2\x82\xac");

  // A config must be a regular file: a device is not read as empty.
  config_sources src;
  src.file = "/dev/urandom";
  auto c = load_config(src);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message ==
        "/dev/urandom: not a regular file (a config is a TOML file)");
  src.file = "/nonexistent/job.toml";
  c = load_config(src);
  REQUIRE_FALSE(c.has_value());
  CHECK(c.error().message == "/nonexistent/job.toml: no such file");
}
