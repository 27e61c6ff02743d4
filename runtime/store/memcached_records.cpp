// A job's records in memcached: plain values under "emnist:<job>:<name>",
// each call retried and failed over like the parameters' (the client's
// policy).
#include <optional>
#include <string>

#include "runtime/store/memcached_client.hpp"
#include "runtime/store/memcached_store.hpp"

namespace emnist {
namespace {

namespace asio = boost::asio;
using asio::awaitable;

class memcached_records final : public record_store {
 public:
  explicit memcached_records(std::shared_ptr<memcached_client> client)
      : prefix_("emnist:" + client->options().job + ":"),
        client_(std::move(client)) {}

  // Its operations reference its members: they finish first.
  ~memcached_records() override { ops_.wait_idle(); }

  void read_record(const std::string& name, record_completion done) override {
    client_->spawn(ops_, read_op(prefix_ + name), std::move(done));
  }

  void write_record(const std::string& name, std::string value,
                    completion done) override {
    client_->spawn(ops_, write_op(prefix_ + name, std::move(value)),
                   std::move(done));
  }

  void add_record(const std::string& name, std::string value,
                  completion done) override {
    client_->spawn(ops_, add_op(prefix_ + name, std::move(value)),
                   std::move(done));
  }

  void erase_record(const std::string& name, completion done) override {
    client_->spawn(ops_, erase_op(prefix_ + name), std::move(done));
  }

  void read_versioned(const std::string& name,
                      versioned_completion done) override {
    client_->spawn(ops_, read_versioned_op(prefix_ + name), std::move(done));
  }

  void replace_record(const std::string& name, std::string value,
                      std::uint64_t token, token_completion done) override {
    client_->spawn(ops_, replace_op(prefix_ + name, std::move(value), token),
                   std::move(done));
  }

 private:
  awaitable<expected<std::optional<std::string>>> read_op(std::string key) {
    auto call = [&]() -> expected<std::optional<std::string>> {
      auto c = client_->pool().acquire();
      auto v = c.get(key);
      if (!v) {
        if (v.error().code == errc::not_found) {
          return std::optional<std::string>{};
        }
        return v.error();
      }
      return std::optional<std::string>{
          std::in_place, reinterpret_cast<const char*>(v->bytes.data()),
          v->bytes.size()};
    };
    co_return co_await client_->with_retry<std::optional<std::string>>(call);
  }

  awaitable<expected<void>> write_op(std::string key, std::string value) {
    auto call = [&]() -> expected<void> {
      auto c = client_->pool().acquire();
      return c.set(key, std::as_bytes(std::span(value)));
    };
    co_return co_await client_->with_retry<void>(call);
  }

  awaitable<expected<void>> add_op(std::string key, std::string value) {
    auto call = [&]() -> expected<void> {
      auto c = client_->pool().acquire();
      auto added = c.add(key, std::as_bytes(std::span(value)));
      if (!added) return added.error();
      return {};  // false: it is there, as it should be
    };
    co_return co_await client_->with_retry<void>(call);
  }

  /// Records are small: anything larger is not one of ours.
  static constexpr std::size_t max_record = 1 << 20;

  awaitable<expected<std::optional<versioned>>> read_versioned_op(
      std::string key) {
    auto call = [&]() -> expected<std::optional<versioned>> {
      auto c = client_->pool().acquire();
      auto v = c.get_value(key, max_record);
      if (!v) {
        if (v.error().code == errc::not_found) {
          return std::optional<versioned>{};
        }
        return v.error();
      }
      return std::optional<versioned>{versioned{
          {reinterpret_cast<const char*>(v->bytes.data()), v->bytes.size()},
          v->cas}};
    };
    co_return co_await client_->with_retry<std::optional<versioned>>(call);
  }

  awaitable<expected<std::uint64_t>> replace_op(std::string key,
                                                std::string value,
                                                std::uint64_t token) {
    auto call = [&]() -> expected<std::uint64_t> {
      auto c = client_->pool().acquire();
      const auto bytes = std::as_bytes(std::span(value));
      return token == 0 ? c.add_value(key, bytes)
                        : c.cas_value(key, bytes, token);
    };
    co_return co_await client_->with_retry<std::uint64_t>(call);
  }

  awaitable<expected<void>> erase_op(std::string key) {
    auto call = [&]() -> expected<void> {
      auto c = client_->pool().acquire();
      return c.erase(key);
    };
    co_return co_await client_->with_retry<void>(call);
  }

  std::string prefix_;  ///< "emnist:<job>:"
  std::shared_ptr<memcached_client> client_;
  operation_count ops_;
};

}  // namespace

std::shared_ptr<record_store> make_memcached_records(
    std::shared_ptr<memcached_client> client) {
  return std::make_shared<memcached_records>(std::move(client));
}

}  // namespace emnist
