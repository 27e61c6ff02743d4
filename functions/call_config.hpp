// What a request to the functions asks for, as configuration: its query
// and body turned into overrides, checked one by one (so that an error
// names the key), a job's keys only (never a deployment's: where the store
// is, its timeouts, the data, the process's threads), and a setup's own
// fields (replace, resume) taken out.
//
//   std::vector<std::string> overrides;
//   std::string field;   // what the 400 names
//   auto cfg = request_config(request, base, process_cfg, overrides, field);
//   auto replace = take_flag(request, overrides, "replace");
#pragma once

#include <string>
#include <vector>

#include "base/expected.hpp"
#include "runtime/config/config.hpp"
#include "runtime/net/http_server.hpp"

namespace emnist {

/// The config of a call: the process's sources (`base`), then
/// `job_settings` (a job's stored settings, when the call joins one), then
/// the request's own overrides (query and body, returned in `overrides`).
/// A request may set a job's keys only; its data selection must be the
/// process's (`process`: loaded once, at start). On error, `field` names
/// what is wrong.
[[nodiscard]] expected<job_config> request_config(
    const http_request& request, const config_sources& base,
    const job_config& process, std::vector<std::string>& overrides,
    std::string& field, const std::vector<std::string>& job_settings = {});

/// The setup field `name` (true|false|1|0), from the query or the body's
/// overrides (taken out of them); false when absent.
[[nodiscard]] expected<bool> take_flag(const http_request& request,
                                       std::vector<std::string>& overrides,
                                       const std::string& name);

}  // namespace emnist
