#!/usr/bin/env bash
# test_tsan.sh: builds build-tsan/ with ThreadSanitizer (KVC_SANITIZE=thread) and runs the
# multi-threaded C API test (Threads.*) and the CUDA-context tests on the emulated plugin
# (DeviceContext.*, eight contexts at once among them) under it; any data race fails the run.
#
# Only libkvc, kvc_api_tests, kvc_device_context_tests and the emulated plugin are built. Uses the default compiler (g++); CXX=clang++ works too.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${KVC_TSAN_BUILD_DIR:-build-tsan}"
JOBS="${KVC_JOBS:-$(nproc)}"

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVC_SANITIZE=thread \
  -DKVC_BUILD_BENCHMARKS=OFF -DKVC_WITH_CUDA=OFF -DKVC_BUILD_EXAMPLES=OFF -DKVC_BUILD_CLI=OFF \
  >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target kvc_api_tests kvc_device_context_tests \
  kvc_cuda_emulated

# The device tests read the real caches from <build>/data: share build/'s copy.
if [ -d build/data ] && [ ! -e "$BUILD_DIR/data" ]; then
  ln -s "$PWD/build/data" "$BUILD_DIR/data"
fi
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" --timeout 900 -R '^Threads\.|^DeviceContext\.'
