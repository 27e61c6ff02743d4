#!/usr/bin/env bash
# Builds CAF's libcaf_core with ThreadSanitizer and installs it under PREFIX
# (include/, lib/), for `make tsan`.
#
#   scripts/build-caf-tsan.sh PREFIX
#
# Why: Debian's libcaf_core is built without -fsanitize=thread, so every
# message handed from one actor to another (CAF's mailboxes and scheduler
# queues) is invisible to ThreadSanitizer and shows as a race between the
# message's writer and its reader. Built from the same source as the
# installed libcaf-dev (Debian's source package, Debian's patches applied),
# the actors' tests run under ThreadSanitizer with no suppression for CAF.
#
# The source comes from the Debian archive the system's apt already uses:
# its `deb` entries, read as `deb-src` into a private apt state (the
# system's sources and lists are not touched). Nothing is done when PREFIX
# already holds a build of the installed version. About 2 minutes on 2 cores.
set -euo pipefail

prefix=${1:?usage: scripts/build-caf-tsan.sh PREFIX}
for tool in apt-get dpkg-query tar cmake; do
  command -v "$tool" >/dev/null || { echo "build-caf-tsan: $tool not found" >&2; exit 2; }
done
source_package=$(dpkg-query -W -f='${source:Package}' libcaf-dev 2>/dev/null) ||
  { echo "build-caf-tsan: libcaf-dev is not installed (scripts/install-deps.sh)" >&2; exit 2; }
version=$(dpkg-query -W -f='${source:Version}' libcaf-dev)
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
stamp="$prefix/.built-from-$source_package-$version"
if [ -f "$stamp" ] && [ -f "$prefix/lib/libcaf_core.so" ]; then
  echo "build-caf-tsan: $prefix has $source_package $version with ThreadSanitizer"
  exit 0
fi

work=$(mktemp -d /tmp/caf-tsan.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"  # apt's download user must be able to write into it
mkdir -p "$work/apt/parts" "$work/apt/lists/partial" "$work/apt/cache/archives/partial"

# The system's archives as source archives: deb822 files and one-line lists.
shopt -s nullglob
n=0
for f in /etc/apt/sources.list.d/*.sources; do
  n=$((n + 1))
  sed -E 's/^Types:.*/Types: deb-src/' "$f" >"$work/apt/parts/src$n.sources"
done
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  n=$((n + 1))
  sed -nE 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >"$work/apt/parts/src$n.list"
done
if [ "$n" = 0 ]; then
  echo "build-caf-tsan: no apt sources in /etc/apt to take CAF's source from" >&2
  exit 2
fi
apt=(apt-get -q -o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/apt/parts"
  -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache")
echo "build-caf-tsan: fetching $source_package $version (its upstream tarball)"
"${apt[@]}" update >"$work/apt-update.log" 2>&1 ||
  { cat "$work/apt-update.log" >&2; echo "build-caf-tsan: apt-get update failed" >&2; exit 1; }
(cd "$work" && "${apt[@]}" source --tar-only "$source_package=$version" \
  >"$work/apt-source.log" 2>&1) ||
  { cat "$work/apt-source.log" >&2; echo "build-caf-tsan: apt-get source failed" >&2; exit 1; }
tarball=$(find "$work" -maxdepth 1 -name "${source_package}_*.orig.tar.*" | head -n 1)
[ -n "$tarball" ] || { echo "build-caf-tsan: apt-get source gave no .orig tarball" >&2; exit 1; }
mkdir "$work/src"
tar -xf "$tarball" -C "$work/src" --strip-components=1
src="$work/src"

# Only libcaf_core: the project uses nothing else of CAF.
echo "build-caf-tsan: building libcaf_core with -fsanitize=thread"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=None \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -O1 -fno-omit-frame-pointer" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=thread" \
  -DCAF_NO_EXAMPLES=yes -DCAF_NO_IO=yes -DCAF_NO_OPENCL=yes -DCAF_NO_OPENSSL=yes \
  -DCAF_NO_PYTHON=yes -DCAF_NO_TOOLS=yes -DCAF_NO_UNIT_TESTS=yes -DCAF_NO_SUMMARY=yes \
  -DCAF_NO_COMPILER_CHECK=yes >"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" --target libcaf_core_shared -j "$(nproc)" >"$work/build.log" 2>&1 ||
  { tail -n 60 "$work/build.log" >&2; exit 1; }
rm -rf "$prefix/include/caf" "$prefix/lib/libcaf_core".*
cmake --install "$work/build" --prefix "$prefix" >/dev/null
rm -f "$prefix"/.built-from-*
touch "$stamp"
echo "build-caf-tsan: $prefix has $source_package $version with ThreadSanitizer"
