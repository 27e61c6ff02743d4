// The doctest main of the suite, and the watchdog every test case runs
// under (support/watchdog.hpp): a test that hangs aborts the run, naming
// itself, within test::default_test_limit().
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include "support/watchdog.hpp"

namespace {

/// Arms a watchdog when a test case starts, disarms it when it ends.
class watchdog_listener : public doctest::IReporter {
 public:
  explicit watchdog_listener(const doctest::ContextOptions&) {}

  void test_case_start(const doctest::TestCaseData& tc) override {
    limit_ = std::make_unique<emnist::test::watchdog>(
        emnist::test::default_test_limit(),
        std::string("test case \"") + tc.m_name + "\"");
  }
  void test_case_end(const doctest::CurrentTestCaseStats&) override {
    limit_.reset();
  }

  void report_query(const doctest::QueryData&) override {}
  void test_run_start() override {}
  void test_run_end(const doctest::TestRunStats&) override {}
  void test_case_reenter(const doctest::TestCaseData&) override {}
  void test_case_exception(const doctest::TestCaseException&) override {}
  void subcase_start(const doctest::SubcaseSignature&) override {}
  void subcase_end() override {}
  void log_assert(const doctest::AssertData&) override {}
  void log_message(const doctest::MessageData&) override {}
  void test_case_skipped(const doctest::TestCaseData&) override {}

 private:
  std::unique_ptr<emnist::test::watchdog> limit_;
};

REGISTER_LISTENER("watchdog", 1, watchdog_listener);

}  // namespace
