// The records of both stores: conditional writes (a claim must not be won
// twice), against the embedded store and a real memcached server.
#include <doctest/doctest.h>

#include <future>
#include <optional>
#include <string>

#include "runtime/store/memcached_store.hpp"
#include "runtime/store/memory_store.hpp"
#include "support/memcached_server.hpp"
#include "test_support.hpp"

using namespace emnist;

namespace {

using versioned = record_store::versioned;

expected<std::optional<versioned>> read_v(record_store& s,
                                          const std::string& name) {
  std::promise<expected<std::optional<versioned>>> p;
  s.read_versioned(name, [&](expected<std::optional<versioned>> r) {
    p.set_value(std::move(r));
  });
  return p.get_future().get();
}

expected<std::uint64_t> replace(record_store& s, const std::string& name,
                                const std::string& value, std::uint64_t t) {
  std::promise<expected<std::uint64_t>> p;
  s.replace_record(name, value, t,
                   [&](expected<std::uint64_t> r) { p.set_value(r); });
  return p.get_future().get();
}

void write(record_store& s, const std::string& name, const std::string& v) {
  std::promise<expected<void>> p;
  s.write_record(name, v, [&](expected<void> r) { p.set_value(r); });
  REQUIRE(p.get_future().get().has_value());
}

void erase(record_store& s, const std::string& name) {
  std::promise<expected<void>> p;
  s.erase_record(name, [&](expected<void> r) { p.set_value(r); });
  REQUIRE(p.get_future().get().has_value());
}

void check_conditional_writes(record_store& s) {
  auto none = read_v(s, "slot");
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
  // Token 0: only when there is none. The first wins, the second is told.
  auto first = replace(s, "slot", "a", 0);
  REQUIRE(first.has_value());
  auto second = replace(s, "slot", "b", 0);
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code == errc::aborted);
  auto read = read_v(s, "slot");
  REQUIRE(read.has_value());
  REQUIRE(read->has_value());
  CHECK((*read)->value == "a");
  CHECK((*read)->token == *first);
  // With the token read: the write goes, and the token moves on.
  auto next = replace(s, "slot", "c", (*read)->token);
  REQUIRE(next.has_value());
  CHECK(*next != *first);
  // The old token again: another writer came first.
  auto stale = replace(s, "slot", "d", *first);
  REQUIRE_FALSE(stale.has_value());
  CHECK(stale.error().code == errc::aborted);
  // An unconditional write in between makes a token read before it stale.
  write(s, "slot", "e");
  stale = replace(s, "slot", "f", *next);
  REQUIRE_FALSE(stale.has_value());
  CHECK(stale.error().code == errc::aborted);
  read = read_v(s, "slot");
  REQUIRE(read.has_value());
  CHECK((*read)->value == "e");
  // The record gone: not found, and nothing written.
  erase(s, "slot");
  auto gone = replace(s, "slot", "g", (*read)->token);
  REQUIRE_FALSE(gone.has_value());
  CHECK(gone.error().code == errc::not_found);
  none = read_v(s, "slot");
  REQUIRE(none.has_value());
  CHECK_FALSE(none->has_value());
}

}  // namespace

TEST_CASE("record_store: conditional writes, on the embedded store") {
  auto store = make_memory_store(4);
  check_conditional_writes(*store.records);
}

TEST_CASE("record_store: conditional writes, on memcached") {
  test::memcached_server server;
  memcached_options o;
  o.servers = {server.address()};
  o.job = "records";
  o.retry_for = std::chrono::milliseconds(300);
  auto store = make_memcached_store(0, o);
  REQUIRE_MESSAGE(store.has_value(), test::error_text(store));
  check_conditional_writes(*store->records);
}
