// JSON text for people as well as programs: Boost.JSON's serializer writes
// every double in exponent form (0.8 as 8E-1, 2.5 as 2.5E0), which is
// valid but hard to read in a curl answer or a log.
//
//   std::string body = readable_json(object);  // {"accuracy":0.7536}
#pragma once

#include <boost/json/value.hpp>
#include <string>

namespace emnist {

/// `v` as JSON text, doubles in their shortest round-trip form (0.7536,
/// not 7.536E-1); a double that is not finite (which JSON cannot hold) as
/// null.
[[nodiscard]] std::string readable_json(const boost::json::value& v);

}  // namespace emnist
