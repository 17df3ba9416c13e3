#!/usr/bin/env bash
# test.sh: sets up, builds, pip-installs the Python binding, runs every test (C++ unit, C API,
# CLI, Python, the Go and Rust bindings, the conformance runners and the examples) via ctest,
# then a libFuzzer smoke run of each fuzz target (when clang has libFuzzer), the ASan+UBSan
# suite (scripts/test_sanitizers.sh) and the ThreadSanitizer test (scripts/test_tsan.sh). The last
# line, "N passed, N failed, N skipped", counts everything: each ctest test, each fuzz smoke run and each
# sanitizer ctest test.
# Environment: KVC_FUZZ_SMOKE_SECONDS (per target, default 20; 0 skips), KVC_FUZZ_SMOKE_RUNS
# (default 30000, seed 1), KVC_SANITIZERS=0 skips
# the ASan+UBSan suite, KVC_TSAN=0 the ThreadSanitizer test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Rust (bindings/rust, examples/rust): cargo from PATH or rustup's ~/.cargo/bin.
if [ -d "$HOME/.cargo/bin" ]; then PATH="$PATH:$HOME/.cargo/bin"; fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "########################################################################################"
  echo "## WARNING: cargo not found: the Rust binding's tests and example are SKIPPED.         ##"
  echo "## Install Rust (https://rustup.rs) to run them.                                       ##"
  echo "########################################################################################"
fi
bash scripts/build.sh
ROOT="$PWD"
BUILD_DIR="${KVC_BUILD_DIR:-build}"
# The Python binding installs as a user would (no C++ build), then imports from outside the tree.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
  ./bindings/python
PYTHON_ABS="$PWD/.venv/bin/python"
KVC_LIBRARY_ABS="$(realpath "$BUILD_DIR/libkvc.so")"
(cd /tmp && KVC_LIBRARY="$KVC_LIBRARY_ABS" "$PYTHON_ABS" -c \
  'import kvc; assert kvc.__version__ == kvc.version(), kvc.version(); print("kvc", kvc.version())')
PASSED=0
FAILED=0
SKIPPED=0

# Adds the counts of ctest's summary line in log $1 (or one failure when there is none). Tests
# ctest lists as "(Skipped)" (the GPU tests without a GPU) count as skipped, not passed.
count_ctest() {
  local line
  line="$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$1" | tail -n 1)" || true
  if [ -z "$line" ]; then
    FAILED=$((FAILED + 1))
    return
  fi
  local failed total
  failed="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")"
  total="$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")"
  local skipped
  skipped="$(grep -cE '^\s*[0-9]+ - .* \(Skipped\)$' "$1" || true)"
  PASSED=$((PASSED + total - failed - skipped))
  FAILED=$((FAILED + failed))
  SKIPPED=$((SKIPPED + skipped))
}

LOG="$(mktemp)"
trap 'rm -f "$LOG"' EXIT
(cd "$BUILD_DIR" && ctest --output-on-failure -j "${KVC_JOBS:-$(nproc)}" --timeout 900) 2>&1 |
  tee "$LOG" || true
count_ctest "$LOG"

# libFuzzer smoke runs: only where clang links -fsanitize=fuzzer.
SMOKE_SECONDS="${KVC_FUZZ_SMOKE_SECONDS:-20}"
# A fixed seed and run count make the smoke runs repeatable: CI replays what a dry run tried
# (at most; a slow machine stops at SMOKE_SECONDS). Campaigns that explore: scripts/fuzz.sh.
SMOKE_RUNS="${KVC_FUZZ_SMOKE_RUNS:-30000}"
has_libfuzzer() {
  local cxx dir
  cxx="$(command -v clang++-14 || command -v clang++ || true)"
  [ -n "$cxx" ] || return 1
  dir="$(mktemp -d)"
  printf '#include <cstddef>\n#include <cstdint>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
    >"$dir/probe.cpp"
  "$cxx" -fsanitize=fuzzer,address,undefined "$dir/probe.cpp" -o "$dir/probe" >/dev/null 2>&1
  local rc=$?
  rm -rf "$dir"
  return $rc
}
if [ "$SMOKE_SECONDS" -gt 0 ] && has_libfuzzer; then
  for target in decompress verify roundtrip selection safetensors model_config; do
    echo "---- fuzz smoke: $target, ${SMOKE_SECONDS}s"
    if bash scripts/fuzz.sh "$target" "$SMOKE_SECONDS" -seed=1 -runs="$SMOKE_RUNS" >"$LOG" 2>&1; then
      PASSED=$((PASSED + 1))
      grep -E '^Done [0-9]+ runs' "$LOG" || true
    else
      FAILED=$((FAILED + 1))
      tail -n 60 "$LOG"
      echo "fuzz smoke $target FAILED (crash inputs in build-fuzz/crashes/$target/)"
    fi
  done
elif [ "$SMOKE_SECONDS" -gt 0 ]; then
  echo "---- fuzz smoke skipped: no clang with libFuzzer (-fsanitize=fuzzer)"
fi

if [ "${KVC_SANITIZERS:-1}" != 0 ]; then
  echo "---- sanitizers: ASan + UBSan build in build-asan/"
  bash "$ROOT/scripts/test_sanitizers.sh" 2>&1 | tee "$LOG" || true
  count_ctest "$LOG"
fi

if [ "${KVC_TSAN:-1}" != 0 ]; then
  echo "---- ThreadSanitizer build in build-tsan/"
  bash "$ROOT/scripts/test_tsan.sh" 2>&1 | tee "$LOG" || true
  count_ctest "$LOG"
fi

echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
