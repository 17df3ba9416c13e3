"""make_golden.py: writes the golden .kvc files of one format version and their manifest.

Run once per format version, with the library that writes that version, e.g.
  KVC_LIBRARY=build/libkvc.so PYTHONPATH=bindings/python .venv/bin/python \
      tests/golden/make_golden.py tests/golden/v1.0
The files are then committed and never regenerated: tests/unit/format/golden_test.cpp checks
that today's reader decodes each to tensors with the SHA-256 digests recorded here.
"""
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

import kvc

# name: (layers, kv_heads, tokens, head_dim, dtype, params)
CASES = {
    "k4v4_f16_zstd": (2, 2, 37, 64, "float16",
                      dict(key_bits=4, value_bits=4, group_size=32,
                           recent_full_precision_tokens=5)),
    "k2v3_bf16_stored": (1, 3, 70, 32, "bfloat16",
                         dict(key_bits=2, value_bits=3, group_size=64, zstd_level=0)),
    "k8v8_f32_shuffle": (2, 1, 40, 48, "float32",
                         dict(key_bits=8, value_bits=8, group_size=128, byte_shuffle=2)),
    "k16v16_f16_lossless": (1, 2, 33, 40, "float16", dict(key_bits=16, value_bits=16)),
}


def tensors(layers, heads, tokens, head_dim, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = (layers, heads, tokens, head_dim)
    keys = rng.normal(0, 1, shape) * rng.uniform(0.5, 4, (1, 1, 1, head_dim)) + 0.25
    values = rng.normal(0, 1, shape)
    if dtype == "bfloat16":  # bf16 bits: the high half of float32
        return [(x.astype(np.float32).view(np.uint32) >> 16).astype(np.uint16) for x in
                (keys, values)]
    return [x.astype(dtype) for x in (keys, values)]


def main(out_dir):
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest = []
    with kvc.Context() as ctx:
        for seed, (name, (layers, heads, tokens, head_dim, dtype, params)) in enumerate(
                CASES.items()):
            keys, values = tensors(layers, heads, tokens, head_dim, dtype, seed)
            blob = ctx.compress(keys, values, kvc.CompressParams(**params),
                                dtype="bfloat16" if dtype == "bfloat16" else None)
            (out / f"{name}.kvc").write_bytes(blob)
            info = ctx.inspect(blob)
            k, v = ctx.decompress(blob)
            manifest.append({
                "file": f"{name}.kvc",
                "format": f"{info.format_major}.{info.format_minor}",
                "shape": [layers, heads, tokens, head_dim],
                "dtype": dtype,
                "params": params,
                "blob_sha256": hashlib.sha256(blob).hexdigest(),
                "keys_sha256": hashlib.sha256(np.ascontiguousarray(k).tobytes()).hexdigest(),
                "values_sha256": hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest(),
            })
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/v1.0")
