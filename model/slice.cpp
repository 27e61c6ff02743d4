// Parser for the data selections of config keys data.train and data.eval.
#include "model/slice.hpp"

#include <algorithm>
#include <charconv>

namespace emnist {
namespace {

error slice_error(std::string_view text, std::size_t pos, std::string what) {
  return make_error(errc::invalid_argument,
                    "data selection '" + std::string(text) + "': " + what +
                        " at character " + std::to_string(pos + 1) +
                        " (expected train or test, optionally sliced like "
                        "test[:100000] or test[100000:])");
}

}  // namespace

index_range data_slice::resolve(std::size_t count) const {
  const auto n = static_cast<std::int64_t>(count);
  auto clamp = [n](std::int64_t v) {
    if (v < 0) v += n;
    return std::clamp<std::int64_t>(v, 0, n);
  };
  const std::int64_t b = start ? clamp(*start) : 0;
  const std::int64_t e = stop ? clamp(*stop) : n;
  return {static_cast<std::size_t>(b),
          static_cast<std::size_t>(std::max(b, e))};
}

std::string data_slice::to_string() const {
  if (!start && !stop) return file;
  return file + "[" + (start ? std::to_string(*start) : "") + ":" +
         (stop ? std::to_string(*stop) : "") + "]";
}

expected<data_slice> parse_slice(std::string_view text) {
  data_slice out;
  const std::size_t bracket = text.find('[');
  out.file = std::string(text.substr(0, bracket));
  if (out.file != "train" && out.file != "test") {
    return slice_error(text, 0, "unknown file '" + out.file + "'");
  }
  if (bracket == std::string_view::npos) return out;
  if (text.back() != ']') {
    return slice_error(text, text.size() - 1, "missing ']'");
  }
  const std::string_view inner =
      text.substr(bracket + 1, text.size() - bracket - 2);
  const std::size_t colon = inner.find(':');
  if (colon == std::string_view::npos) {
    return slice_error(text, bracket + 1, "expected ':' in the slice");
  }
  if (inner.find(':', colon + 1) != std::string_view::npos) {
    return slice_error(text, bracket + 2 + colon,
                       "slice steps are not supported");
  }
  auto parse_bound = [&](std::string_view part, std::size_t offset,
                         std::optional<std::int64_t>& dst) -> expected<void> {
    if (part.empty()) return {};
    std::int64_t v = 0;
    auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), v);
    if (ec != std::errc{} || ptr != part.data() + part.size()) {
      return slice_error(text, offset + (ptr - part.data()),
                         "expected an integer");
    }
    dst = v;
    return {};
  };
  if (auto ok = parse_bound(inner.substr(0, colon), bracket + 1, out.start);
      !ok) {
    return ok.error();
  }
  if (auto ok =
          parse_bound(inner.substr(colon + 1), bracket + 2 + colon, out.stop);
      !ok) {
    return ok.error();
  }
  return out;
}

}  // namespace emnist
