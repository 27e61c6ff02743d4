// A value or an error, for APIs that can fail on bad input or I/O.
//
//   emnist::expected<dataset> d = load_split(dir, "bymerge", "train");
//   if (!d) { std::cerr << d.error().message << '\n'; return 2; }
//   use(*d);
//
// g++ 12 has no std::expected in C++20, and model/ must not depend on CAF, so
// this is the project's own small one. The error carries a code saying what
// the caller should do, and a message that names the input (file, line, key,
// byte offset) and what was expected there.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace emnist {

/// What the caller should do about an error.
enum class errc {
  invalid_argument,  ///< bad input: fix it, do not retry
  not_found,         ///< a file, key or job that does not exist
  data_loss,         ///< corrupt or truncated data: refetch or restore
  unavailable,       ///< a server or network failed: retry with backoff
  aborted,           ///< a conflict (e.g. CAS): retry the transaction
  internal,          ///< a bug or a broken invariant
};

struct error {
  errc code = errc::internal;
  std::string message;
  /// Where it happened when that is one of several peers the caller can
  /// act on, e.g. the memcached server ("host:port") that failed: failover
  /// drops that one. Empty otherwise.
  std::string origin;
};

[[nodiscard]] inline error make_error(errc code, std::string message,
                                      std::string origin = {}) {
  return error{code, std::move(message), std::move(origin)};
}

template <class T>
class [[nodiscard]] expected {
 public:
  expected(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  expected(struct error e) : v_(std::in_place_index<1>, std::move(e)) {}

  bool has_value() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const struct error& error() const& { return std::get<1>(v_); }

 private:
  std::variant<T, struct error> v_;
};

template <>
class [[nodiscard]] expected<void> {
 public:
  expected() = default;
  expected(struct error e) : err_(std::move(e)), ok_(false) {}

  bool has_value() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const struct error& error() const& { return err_; }

 private:
  struct error err_;
  bool ok_ = true;
};

}  // namespace emnist
