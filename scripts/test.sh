#!/usr/bin/env bash
# test.sh: sets up, builds and runs every test (C++ unit, C API, CLI, Python scripts) via ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
BUILD_DIR="${KVC_BUILD_DIR:-build}"
cd "$BUILD_DIR"
ctest --output-on-failure -j "${KVC_JOBS:-$(nproc)}" --timeout 900
