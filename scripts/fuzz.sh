#!/usr/bin/env bash
# Fuzzes every parser of outside input with libFuzzer (clang, ASan, UBSan):
# the IDX reader, the config and --set parser, the block codec, the job
# records, HTTP requests (parser, router, body), the zip directory,
# saved models (.npz and .onnx) and PNG images.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (default: 60 s each, all)
#
# Each target first runs its former crashers (tests/fuzz/crashers/TARGET),
# then fuzzes from its seeds (tests/fuzz/corpus/TARGET) for SECONDS. New
# inputs go to build-fuzz/fuzz/TARGET/corpus, never into the repository. A
# crash, a leak, a sanitizer report, a timeout or a broken check fails the
# run and names the input that did it: fix the bug, then add the input to
# tests/fuzz/crashers/TARGET so that the suite runs it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(idx config block_codec job_record http zip npz onnx png)
fi
build=${FUZZ_BUILD:-build-fuzz}

WITH_FUZZ=1 scripts/install-deps.sh
if [[ ! -f "$build/CMakeCache.txt" ]]; then
  CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DEMNIST_FUZZ=ON
fi
cmake --build "$build" --target emnist_fuzzers -j "$(nproc)"

for t in "${targets[@]}"; do
  program="$build/emnist_fuzz_$t"
  work="$build/fuzz/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  crashers=(tests/fuzz/crashers/"$t"/*)
  if [[ -e "${crashers[0]}" ]]; then
    echo "== fuzz $t: ${#crashers[@]} former crashers"
    "$program" "${crashers[@]}" 2>"$work/crashers.log" || {
      tail -n 40 "$work/crashers.log"
      echo "fuzz: a former crasher of $t fails again" >&2
      exit 1
    }
  fi
  echo "== fuzz $t: ${seconds} s from $(ls tests/fuzz/corpus/"$t" | wc -l) seeds"
  if ! "$program" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    "$work/corpus" "tests/fuzz/corpus/$t" >"$work/fuzz.log" 2>&1; then
    tail -n 60 "$work/fuzz.log"
    echo "fuzz: $t failed; the input is in $work/artifacts/" >&2
    exit 1
  fi
  grep -E "^stat::(number_of_executed_units|peak_rss_mb)|cov: " \
    "$work/fuzz.log" | tail -n 3
done
echo "fuzz: ${#targets[@]} targets, ${seconds} s each, no failure"
