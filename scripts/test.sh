#!/usr/bin/env bash
# test.sh: sets up, builds, pip-installs the Python binding and runs every test via ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
BUILD_DIR="${KVC_BUILD_DIR:-build}"
# The Python binding installs as a user would (no C++ build), then imports from outside the tree.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
  ./bindings/python
PYTHON_ABS="$PWD/.venv/bin/python"
KVC_LIBRARY_ABS="$(realpath "$BUILD_DIR/libkvc.so")"
(cd /tmp && KVC_LIBRARY="$KVC_LIBRARY_ABS" "$PYTHON_ABS" -c \
  'import kvc; assert kvc.__version__ == kvc.version(), kvc.version(); print("kvc", kvc.version())')
cd "$BUILD_DIR"
ctest --output-on-failure -j "${KVC_JOBS:-$(nproc)}" --timeout 900
