// Python-like data selections.
#include "model/slice.hpp"

#include <doctest/doctest.h>

#include "test_support.hpp"

using namespace emnist;

TEST_CASE("slice: parse and resolve like Python") {
  auto r = [](const char* text, std::size_t n) {
    auto s = parse_slice(text);
    REQUIRE_MESSAGE(s.has_value(), test::error_text(s));
    return s->resolve(n);
  };
  CHECK(r("train", 10).begin == 0);
  CHECK(r("train", 10).end == 10);
  CHECK(r("test[:100000]", 116323).end == 100000);
  CHECK(r("test[100000:]", 116323).begin == 100000);
  CHECK(r("test[100000:]", 116323).size() == 16323);
  CHECK(r("test[-5:]", 10).begin == 5);
  CHECK(r("test[:-3]", 10).end == 7);
  CHECK(r("test[2:4]", 10).size() == 2);
  CHECK(r("test[8:100]", 10).size() == 2);  // clamped
  CHECK(r("test[7:3]", 10).size() == 0);    // empty, not negative
  CHECK(r("test[:]", 10).size() == 10);
  CHECK(parse_slice("test[:100000]")->to_string() == "test[:100000]");
}

TEST_CASE("slice: bad selections name the problem and its position") {
  auto err = [](const char* text) {
    auto s = parse_slice(text);
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().code == errc::invalid_argument);
    return s.error().message;
  };
  CHECK(err("validation").find("unknown file 'validation'") !=
        std::string::npos);
  CHECK(err("test[1:2").find("missing ']'") != std::string::npos);
  CHECK(err("test[12]").find("expected ':'") != std::string::npos);
  CHECK(err("test[1:2:3]").find("steps are not supported") !=
        std::string::npos);
  auto msg = err("test[ab:]");
  CHECK(msg.find("expected an integer at character 6") != std::string::npos);
}
