#!/usr/bin/env bash
# run_main.sh: the main job: set up, build, then compress a real KV cache (SmolLM2-135M over
# WikiText-2, or stories260K when SmolLM2 is unavailable) and print its metrics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
BUILD_DIR="${KVC_BUILD_DIR:-build}"
cache="$BUILD_DIR/data/smollm2-135m.safetensors"
[ -s "$cache" ] || cache="$BUILD_DIR/data/stories260K.safetensors"
out="$BUILD_DIR/data/main-job"
mkdir -p "$out"
echo "== kvc compress $cache (4-bit keys per channel, 4-bit values per token, groups of 128)"
"$BUILD_DIR/kvc" compress "$cache" -o "$out/cache-4bit.kvc" --bits 4 --group-size 128
echo
echo "== the same at 8 bits"
"$BUILD_DIR/kvc" compress "$cache" -o "$out/cache-8bit.kvc" --bits 8 --group-size 128
echo
echo "== lossless (bits 16 + Zstandard)"
"$BUILD_DIR/kvc" compress "$cache" -o "$out/cache-lossless.kvc" --bits 16
echo
"$BUILD_DIR/kvc" verify "$out/cache-4bit.kvc"
