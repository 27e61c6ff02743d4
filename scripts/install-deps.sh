#!/usr/bin/env bash
# Installs the Debian 12 packages this project builds, tests and runs with.
# Idempotent and quick: when every package is already installed it only runs
# `dpkg-query` and exits. Needs root (or sudo) only when something is missing.
# `BUILD_ONLY=1 scripts/install-deps.sh`: what building `emnist` needs, and
# not what the tests run (the image's build stage).
set -euo pipefail

packages=(
  # toolchain (clang-format: the house style, scripts/check-format.sh)
  g++ cmake make pkg-config ccache clang-format-14
  # libraries (Debian's packages only; see docs/architecture.md)
  libboost1.81-dev libboost-system1.81-dev libboost-json1.81-dev
  libcaf-dev libeigen3-dev libmemcached-dev doctest-dev libtomlplusplus-dev
  libcli11-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
  libonnx-dev libprotobuf-dev libpng-dev libdeflate-dev
)
test_packages=(
  # services the tests start
  memcached
  # numpy, ONNX's checker and OpenCV's DNN read saved models back in the
  # suite (tests/apps/npz_accuracy.py, tests/apps/onnx_consumers.py)
  python3 python3-numpy python3-onnx python3-opencv
  # a browser runs the live page in the suite (tests/functions/serve_test.cpp)
  chromium
)
if [[ "${BUILD_ONLY:-0}" != 1 ]]; then
  packages+=("${test_packages[@]}")
fi
# The PyTorch peer of the benchmark (bench/) is optional: install with
# `WITH_BENCH=1 scripts/install-deps.sh`. Debian's torch and numpy do their
# matrix products through libblas.so.3, the reference BLAS (many times
# slower) unless libopenblas0-pthread is installed: a peer without it is
# handicapped. threadpoolctl reports the kernel each peer ran.
if [[ "${WITH_BENCH:-0}" == 1 ]]; then
  packages+=(python3 python3-torch python3-numpy python3-pylibmc
    libopenblas0-pthread python3-threadpoolctl)
fi

# The libFuzzer targets (scripts/fuzz.sh): `WITH_FUZZ=1 scripts/install-deps.sh`.
if [[ "${WITH_FUZZ:-0}" == 1 ]]; then
  packages+=(clang-14 libclang-rt-14-dev)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if ((EUID != 0)); then sudo=sudo; fi
export DEBIAN_FRONTEND=noninteractive
# An empty package list means `apt-get update` never ran on this machine.
if [[ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]]; then
  $sudo apt-get update -qq
fi
if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  # The lists may be stale (a package moved to a new point release): refresh once.
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
