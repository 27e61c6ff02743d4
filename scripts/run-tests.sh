#!/usr/bin/env bash
# Runs the whole doctest suite through ctest for one build folder.
# The tests start the servers they need themselves (on free loopback ports).
set -euo pipefail
build=${1:-build}
exec ctest --test-dir "$build" --output-on-failure --timeout 600 -j 2
