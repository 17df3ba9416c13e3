#!/usr/bin/env bash
# coverage.sh: source-based coverage (clang -fprofile-instr-generate -fcoverage-mapping) of the
# unit, API, reliability, fuzz-replay and CUDA-context (emulated plugin) tests in build-cov/;
# prints line and branch coverage of src/format/ and src/codecs/ (the decoders), and the whole
# library, with llvm-cov.
# Not part of scripts/test.sh. Needs clang-14, llvm-profdata-14 and llvm-cov-14 (or unversioned).
# Environment: KVC_COV_BUILD_DIR (default build-cov), KVC_JOBS.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${KVC_COV_BUILD_DIR:-build-cov}"
JOBS="${KVC_JOBS:-$(nproc)}"
pick() { command -v "$1-14" || command -v "$1"; }
CC="$(pick clang)"
CXX="$(pick clang++)"
PROFDATA="$(pick llvm-profdata)"
LLVM_COV="$(pick llvm-cov)"

FLAGS="-fprofile-instr-generate -fcoverage-mapping"
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_COMPILER="$CC" \
  -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_C_FLAGS="$FLAGS" -DCMAKE_CXX_FLAGS="$FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS="$FLAGS" -DCMAKE_SHARED_LINKER_FLAGS="$FLAGS" \
  -DKVC_BUILD_BENCHMARKS=OFF -DKVC_WITH_CUDA=OFF -DKVC_BUILD_EXAMPLES=OFF -DKVC_BUILD_CLI=OFF \
  >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target kvc_unit_tests kvc_api_tests \
  kvc_reliability_tests decompress_fuzz_replay verify_fuzz_replay roundtrip_fuzz_replay selection_fuzz_replay \
  safetensors_fuzz_replay model_config_fuzz_replay kvc_device_context_tests kvc_cuda_emulated

if [ -d build/data ] && [ ! -e "$BUILD_DIR/data" ]; then
  ln -s "$PWD/build/data" "$BUILD_DIR/data"
fi
PROFILES="$PWD/$BUILD_DIR/profiles"
rm -rf "$PROFILES"
mkdir -p "$PROFILES"
export LLVM_PROFILE_FILE="$PROFILES/%p-%m.profraw"
(cd "$BUILD_DIR" && ctest -j "$JOBS" --timeout 900 -E '^(Install|Scripts|Cli|Examples|Python|CHeader|Go|Rust|Conformance)\.' \
  >"$PROFILES/ctest.log" 2>&1) || { tail -n 30 "$PROFILES/ctest.log"; exit 1; }
"$PROFDATA" merge -sparse "$PROFILES"/*.profraw -o "$PROFILES/merged.profdata"

# Every binary that ran, so that code compiled into each of them is counted.
OBJECTS=("$BUILD_DIR/libkvc.so")
for exe in tests/kvc_unit_tests tests/kvc_reliability_tests tests/fuzz/decompress_fuzz_replay \
  tests/fuzz/verify_fuzz_replay tests/fuzz/roundtrip_fuzz_replay tests/fuzz/selection_fuzz_replay \
  tests/fuzz/safetensors_fuzz_replay \
  tests/fuzz/model_config_fuzz_replay tests/device/kvc_device_context_tests; do
  [ -e "$BUILD_DIR/$exe" ] && OBJECTS+=(-object "$BUILD_DIR/$exe")
done
report() {
  "$LLVM_COV" report -instr-profile="$PROFILES/merged.profdata" "${OBJECTS[@]}" \
    -show-branch-summary "$@"
}
echo "---- src/format and src/codecs (decode and encode)"
report "$PWD/src/format" "$PWD/src/codecs"
echo "---- the whole library (src/)"
report "$PWD/src" | tail -n 1
