#!/usr/bin/env bash
# Runs the whole doctest suite through ctest for one build folder.
# The tests start the servers they need themselves (on free loopback ports).
set -euo pipefail
# Arguments after the build folder go to ctest (e.g. -R PATTERN).
build=${1:-build}
shift || true
exec ctest --test-dir "$build" --output-on-failure --timeout 600 -j 2 "$@"
