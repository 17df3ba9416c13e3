#!/usr/bin/env bash
# build.sh: configures and builds kvc (Release) in build/ and writes the real example KV caches
# (stories260K and SmolLM2 from ../shared/data and the model cache) to build/data/.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${KVC_BUILD_DIR:-build}"
JOBS="${KVC_JOBS:-$(nproc)}"

cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release \
  -DKVC_PYTHON="$PWD/.venv/bin/python" ${KVC_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS"

mkdir -p "$BUILD_DIR/data"
if [ ! -s "$BUILD_DIR/data/stories260K.safetensors" ] ||
   { [ ! -s "$BUILD_DIR/data/smollm2-135m.safetensors" ] && [ -s "${KVC_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kvc/models}/SmolLM2-135M-Instruct.Q4_1.gguf" ]; }; then
  .venv/bin/python scripts/kvcache/make_example_caches.py --out "$BUILD_DIR/data" --model all
fi
