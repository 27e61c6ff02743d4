// A request's overrides, checked against the configuration and the
// deployment's keys.
#include "functions/call_config.hpp"

#include <optional>
#include <tuple>

#include "base/printable.hpp"
#include "runtime/config/config_overrides.hpp"

namespace emnist {
namespace {

/// A setup's own fields, in its body ({"replace": true}) or query
/// (?resume=1): not configuration keys.
bool is_setup_field(const std::string& key) {
  return key == "replace" || key == "resume";
}

/// Query parameters that are not configuration keys.
bool is_call_parameter(const std::string& name) {
  return name == "job" || name == "worker_id" || name == "job_id" ||
         is_setup_field(name);
}

/// The key of a "key=value" override.
std::string key_of(const std::string& o) {
  return o.substr(0, o.find('='));
}

}  // namespace

/// The setup field `name` (true|false|1|0), from the query or the body's
/// overrides (taken out of them); false when absent.
expected<bool> take_flag(const http_request& request,
                         std::vector<std::string>& overrides,
                         const std::string& name) {
  std::optional<std::string> text;
  if (const auto* q = request.query_value(name)) text = *q;
  const std::string prefix = name + "=";
  for (auto it = overrides.begin(); it != overrides.end();) {
    if (it->rfind(prefix, 0) == 0) {
      text = it->substr(prefix.size());
      it = overrides.erase(it);
    } else {
      ++it;
    }
  }
  if (!text) return false;
  if (*text == "true" || *text == "1") return true;
  if (*text == "false" || *text == "0") return false;
  return make_error(errc::invalid_argument, name + " = '" + printable(*text) +
                                                "': expected true or false");
}

expected<job_config> request_config(
    const http_request& request, const config_sources& base,
    const job_config& process, std::vector<std::string>& overrides,
    std::string& field, const std::vector<std::string>& job_settings) {
  for (const auto& [k, v] : request.query) {
    if (is_call_parameter(k)) continue;
    overrides.push_back(k + "=" + v);
  }
  auto from_body = overrides_from_body(request.body);
  if (!from_body) {
    field = "body";
    return from_body.error();
  }
  overrides.insert(overrides.end(), from_body->begin(), from_body->end());
  // What only the deployment chooses (where the store is, how long to wait
  // for it, the data, threads, HTTP, a function's time budget) is never a
  // request's to set: a caller must not point the function at a store of
  // its choosing, or hold its calls for an hour.
  for (const auto& o : overrides) {
    const std::string key = key_of(o);
    if (is_setup_field(key)) continue;  // taken later
    if (is_deployment_key(key)) {
      field = key;
      return make_error(errc::invalid_argument,
                        key +
                            ": set by the deployment (the function's "
                            "environment or config file), not by a request "
                            "(`emnist config --keys` shows which keys a job "
                            "may set)");
    }
  }
  // One at a time first, so that the error names the key at fault.
  for (const auto& o : overrides) {
    if (is_setup_field(key_of(o))) continue;
    auto sources = base;
    sources.overrides.push_back(o);
    if (auto c = load_config(sources); !c) {
      field = o.substr(0, o.find('='));
      return c.error();
    }
  }
  // The job's stored settings, then the request's: a request that differs
  // from its job is refused when it joins, naming the key.
  auto sources = base;
  sources.overrides.insert(sources.overrides.end(), job_settings.begin(),
                           job_settings.end());
  for (const auto& o : overrides) {
    if (!is_setup_field(key_of(o))) sources.overrides.push_back(o);
  }
  auto cfg = load_config(sources);
  if (!cfg) {
    field = "config";
    return cfg.error();
  }
  // The data is loaded once per process: a job's stored selection must be
  // this process's.
  for (const auto& [key, mine, theirs] :
       {std::tuple{"data.split", process.data.split, cfg->data.split},
        std::tuple{"data.train", process.data.train, cfg->data.train},
        std::tuple{"data.eval", process.data.eval, cfg->data.eval}}) {
    if (mine != theirs) {
      field = key;
      return make_error(errc::invalid_argument,
                        std::string(key) + " = '" + theirs +
                            "': this function serves '" + mine +
                            "' (its data is loaded once, at start)");
    }
  }
  return cfg;
}

}  // namespace emnist
