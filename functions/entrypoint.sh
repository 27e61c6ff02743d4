#!/bin/sh
# The image's entrypoint: serves the function the way EMNIST_SERVE_MODE says.
#   direct    `emnist serve` listens on OpenFaaS's port 8080 itself; the
#             container's arguments are appended (`--set key=value`).
#   watchdog  of-watchdog in HTTP mode on 8080 starts `emnist serve` on
#             127.0.0.1:8082 from its `fprocess` (set in the Dockerfile).
# POSIX sh on purpose: the runtime stage is debian:12-slim, with no bash
# assumptions, and `exec` leaves PID 1 to the server so that SIGTERM from
# the runtime reaches it and drains in-flight calls.
set -eu

case "${EMNIST_SERVE_MODE:-direct}" in
  direct)
    exec /usr/local/bin/emnist serve --config /etc/emnist/config.toml "$@"
    ;;
  watchdog)
    if [ "$#" -gt 0 ]; then
      echo "emnist-entrypoint: arguments ($*) are not passed through in the" \
        "watchdog mode; set EMNIST_* variables or fprocess instead" >&2
      exit 2
    fi
    exec /usr/local/bin/fwatchdog
    ;;
  *)
    echo "emnist-entrypoint: EMNIST_SERVE_MODE='${EMNIST_SERVE_MODE}':" \
      "expected direct or watchdog" >&2
    exit 2
    ;;
esac
