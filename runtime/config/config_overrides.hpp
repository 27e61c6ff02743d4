// Config overrides carried by an HTTP request: the body of an emnist-setup
// or emnist-train call, as a JSON object with the TOML config's sections
// or as TOML text, turned into the "key=value" overrides that --set takes.
//
//   auto o = overrides_from_body(R"({"train": {"replicas": 3}})");
//   // *o == {"train.replicas=3"}
//   auto t = overrides_to_toml(*o);   // "train.replicas = 3\n"
//
// Keys are not checked here: load_config does that, naming the key.
#pragma once

#include <string>
#include <vector>

#include "base/expected.hpp"

namespace emnist {

/// A JSON object ({"train": {"replicas": 3}} or {"train.replicas": 3}),
/// TOML text ("[train]\nreplicas = 3" or "train.replicas = 3"), or
/// nothing (an empty or blank body). Errors say where the body is wrong.
[[nodiscard]] expected<std::vector<std::string>> overrides_from_body(
    const std::string& body);

/// The overrides as TOML text (dotted keys) that overrides_from_body
/// reads back; bare words become quoted strings.
[[nodiscard]] std::string overrides_to_toml(
    const std::vector<std::string>& overrides);

}  // namespace emnist
