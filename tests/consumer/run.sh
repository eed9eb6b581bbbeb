#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, builds the examples against it as an outside
# project would (CMake package, then pkg-config), and runs them on a model.
# Usage: run.sh BUILD_DIR SOURCE_DIR MODEL PROMPT EXPECTED_TEXT (the examples print a prefix of
# it, at least 80 characters longer than the prompt).
set -euo pipefail
build=$1 source=$2 model=$3 prompt=$4 expected=$5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
test -x "$prefix/bin/isomer"
test -f "$prefix/include/isomer/isomer.h"

libdir=$(dirname "$(find "$prefix" -name isomer.pc)")/..
cmake -S "$source/tests/consumer" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" \
  -DEXAMPLES_DIR="$source/examples" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$work/cmake-build" >/dev/null
export PKG_CONFIG_PATH=$libdir/pkgconfig
cc -std=c11 -Wall -Werror "$source/examples/generate.c" $(pkg-config --cflags --libs isomer) -o "$work/pkgconfig_c"

check() {
  local name=$1 out
  out=$("${@:2}" "$model" cpu "$prompt" 2>/dev/null)
  if [[ "$expected" != "$out"* || ${#out} -lt $((${#prompt} + 80)) ]]; then
    echo "$name printed: $out" >&2
    echo "expected a text starting: $expected" >&2
    exit 1
  fi
  echo "$name: ok"
}
check "CMake package, C" "$work/cmake-build/consumer_c"
check "CMake package, C++" "$work/cmake-build/consumer_cpp"
LD_LIBRARY_PATH=$libdir check "pkg-config, C" "$work/pkgconfig_c"
"$prefix/bin/isomer" run -m "$model" -p "$prompt" -n 4 --temp 0 >/dev/null 2>&1
echo "installed CLI: ok"

# The installed CLI finds the installed backend modules: it says about each backend what the
# build tree's CLI says. A module that was not built is reported by both with dlopen's error,
# which names the folder searched; that folder is the one thing allowed to differ.
devices() { "$1/bin/isomer" devices 2>&1 | sed "s|$(realpath "$2")/isomer-backends/|MODULES/|g"; }
if [[ "$(devices "$prefix" "$libdir")" != "$(devices "$build" "$build/lib")" ]]; then
  diff <(devices "$build" "$build/lib") <(devices "$prefix" "$libdir") >&2 || true
  exit 1
fi
for module in "$build"/lib/isomer-backends/*.so; do
  [[ -e "$module" ]] && test -f "$libdir/isomer-backends/$(basename "$module")"
done
echo "installed backend modules: ok"
