#!/usr/bin/env bash
# test_sanitizers.sh: builds build-asan/ with ASan + UBSan and runs the unit, API and fuzz-replay tests.
#
# Uses the default compiler (g++). Excluded: Install.* (its consumer program is built without
# ASan, so it cannot load the instrumented libkvc), the Python suites Scripts.*, Cli.* (a
# non-ASan python3 loading the CLI/libkvc would need LD_PRELOAD of libasan), and Examples.*
# (examples are not built here). Needs build/data/ from scripts/build.sh for the data tests.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${KVC_ASAN_BUILD_DIR:-build-asan}"
JOBS="${KVC_JOBS:-$(nproc)}"

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVC_SANITIZE=address,undefined \
  -DKVC_BUILD_BENCHMARKS=OFF -DKVC_WITH_CUDA=OFF -DKVC_BUILD_EXAMPLES=OFF -DKVC_BUILD_CLI=OFF \
  >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

# The tests read the real caches from <build>/data: share build/'s copy.
if [ -d build/data ] && [ ! -e "$BUILD_DIR/data" ]; then
  ln -s "$PWD/build/data" "$BUILD_DIR/data"
fi
export ASAN_OPTIONS="detect_leaks=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" --timeout 900 -E '^(Install|Scripts|Cli|Examples)\.'
