#!/usr/bin/env bash
# fuzz.sh: runs one libFuzzer campaign: scripts/fuzz.sh TARGET SECONDS [libFuzzer flags...]
#
#   TARGET   decompress | verify | roundtrip | selection | safetensors | model_config
#            (tests/fuzz/<TARGET>_fuzz.cpp)
#   SECONDS  wall-clock budget (libFuzzer -max_total_time)
#
# Configures build-fuzz/ with clang and -DKVC_BUILD_FUZZERS=ON (ASan + UBSan + libFuzzer
# coverage), builds the target, and fuzzes it on its committed seed corpus
# tests/fuzz/corpus/<TARGET>/. New interesting inputs go to build-fuzz/corpus/<TARGET>/ (the
# committed corpus is only read); crashes are written to build-fuzz/crashes/<TARGET>/. To keep a
# finding, minimize it (<binary> -minimize_crash=1 <file>) and commit it under
# tests/fuzz/corpus/<TARGET>/ with a name saying what it reproduces, next to the fix.
# Environment: KVC_FUZZ_JOBS (parallel fuzzing processes, default 1), CC/CXX (default clang-14).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
TARGET="$1"
SECONDS_BUDGET="$2"
shift 2
case "$TARGET" in
  decompress | verify | roundtrip | selection | safetensors | model_config) ;;
  *) echo "fuzz.sh: unknown target '$TARGET'" >&2; exit 2 ;;
esac
CC="${CC:-$(command -v clang-14 || command -v clang)}"
CXX="${CXX:-$(command -v clang++-14 || command -v clang++)}"
BUILD_DIR=build-fuzz

cmake -S . -B "$BUILD_DIR" -DCMAKE_C_COMPILER="$CC" -DCMAKE_CXX_COMPILER="$CXX" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVC_BUILD_FUZZERS=ON -DKVC_BUILD_TESTS=OFF \
  -DKVC_BUILD_BENCHMARKS=OFF -DKVC_BUILD_EXAMPLES=OFF -DKVC_BUILD_CLI=OFF -DKVC_WITH_CUDA=OFF \
  >/dev/null
cmake --build "$BUILD_DIR" --target "${TARGET}_fuzz" -j "${KVC_JOBS:-$(nproc)}" >/dev/null

SEEDS="tests/fuzz/corpus/$TARGET"
case "$TARGET" in
  decompress) EXTRA_SEEDS=tests/fuzz/corpus/verify ;;
  verify) EXTRA_SEEDS=tests/fuzz/corpus/decompress ;;
  *) EXTRA_SEEDS= ;;
esac
WORK="$BUILD_DIR/corpus/$TARGET"
CRASHES="$BUILD_DIR/crashes/$TARGET"
mkdir -p "$WORK" "$CRASHES"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
JOBS="${KVC_FUZZ_JOBS:-1}"
PARALLEL=()
if [ "$JOBS" -gt 1 ]; then PARALLEL=(-fork="$JOBS"); fi
# -rss_limit_mb/-malloc_limit_mb: a blob may not make the library allocate more than 2 GiB.
exec "$BUILD_DIR/tests/fuzz/${TARGET}_fuzz" -max_total_time="$SECONDS_BUDGET" -timeout=25 \
  -rss_limit_mb=2560 -malloc_limit_mb=2048 -artifact_prefix="$CRASHES/" -print_final_stats=1 \
  "${PARALLEL[@]}" "$@" "$WORK" "$SEEDS" $EXTRA_SEEDS
