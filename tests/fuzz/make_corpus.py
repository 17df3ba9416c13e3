#!/usr/bin/env python3
"""make_corpus.py: regenerates the seed corpora of tests/fuzz/corpus/ from the real example caches.

Usage: tests/fuzz/make_corpus.py --kvc build/kvc --data build/data [--out tests/fuzz/corpus]

Slices stories260K and SmolLM2 to a few layers and tokens, compresses the slices with the kvc
CLI at several settings (decompress/), derives truncated and bit-flipped blobs (verify/), writes
valid and malformed safetensors files (safetensors/), round-trip inputs (roundtrip/) and
token-selection round trips (selection/).
Crash reproducers (files named crash-*) are never touched. Needs numpy.
"""
import argparse
import json
import os
import random
import struct
import subprocess
import tempfile

import numpy as np


def read_safetensors(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, t in header.items():
        begin, end = t["data_offsets"]
        dt = {"F16": np.float16, "F32": np.float32, "BF16": np.uint16}[t["dtype"]]
        tensors[name] = np.frombuffer(blob[8 + n + begin : 8 + n + end], dt).reshape(t["shape"])
    return meta, tensors


def safetensors_bytes(tensors, meta=None, dtype_name=None):
    header, chunks, offset = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, a in tensors.items():
        raw = np.ascontiguousarray(a).tobytes()
        name_dtype = dtype_name or {np.float16: "F16", np.float32: "F32"}[a.dtype.type]
        header[name] = {"dtype": name_dtype, "shape": list(a.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def to_bf16(a):
    bits = a.astype(np.float32).view(np.uint32)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def slice_cache(path, layers, heads, tokens, head_dim, model):
    _, t = read_safetensors(path)
    out = {}
    for layer in range(layers):
        for kind in ("key", "value"):
            a = t[f"layer_{layer}_{kind}"]
            out[f"layer_{layer}_{kind}"] = a[:, :heads, :tokens, :head_dim]
    meta = {"num_layers": str(layers), "num_kv_heads": str(heads), "seq_len": str(tokens),
            "head_dim": str(out["layer_0_key"].shape[-1]), "model_name": model}
    return out, meta


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kvc", default="build/kvc")
    ap.add_argument("--data", default="build/data")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "corpus"))
    args = ap.parse_args()
    rng = random.Random(260)
    dirs = {k: os.path.join(args.out, k)
            for k in ("decompress", "verify", "roundtrip", "selection", "safetensors")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
        for name in os.listdir(d):
            if not name.startswith("crash-"):
                os.remove(os.path.join(d, name))

    stories, stories_meta = slice_cache(os.path.join(args.data, "stories260K.safetensors"),
                                        2, 2, 48, 8, "stories260K")
    smol, smol_meta = slice_cache(os.path.join(args.data, "smollm2-135m.safetensors"),
                                  1, 1, 24, 64, "smollm2-135m")
    sources = {
        "stories_f16": safetensors_bytes(stories, stories_meta),
        "stories_f32": safetensors_bytes({k: v.astype(np.float32) for k, v in stories.items()},
                                         stories_meta),
        "stories_bf16": safetensors_bytes({k: to_bf16(v) for k, v in stories.items()},
                                          stories_meta, "BF16"),
        "smol_f16": safetensors_bytes(smol, smol_meta),
    }
    settings = {
        "b4_g64": [],
        "b2_g32_r8": ["--bits", "2", "--group-size", "32", "--recent-tokens", "8"],
        "b3_g128_z0": ["--bits", "3", "--group-size", "128", "--zstd-level", "0"],
        "b8_shuffle": ["--bits", "8", "--shuffle", "on"],
        "k16_v4": ["--key-bits", "16", "--value-bits", "4", "--shuffle", "off"],
        "b16_lossless": ["--bits", "16", "--zstd-level", "3"],
        "b4_r100": ["--bits", "4", "--recent-tokens", "100"],
        # Format 1.1: kept token positions (shared, and per head within a sliding window).
        "sel_recency": ["--select", "recency", "--keep-ratio", "0.5", "--sinks", "2",
                        "--keep-recent", "4"],
        "sel_keynorm_perhead": ["--select", "key-norm", "--per-head", "--keep-ratio", "0.3",
                                "--sliding-window", "24", "--bits", "2", "--group-size", "32"],
    }
    blobs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for src_name, data in sources.items():
            src = os.path.join(tmp, src_name + ".safetensors")
            write(src, data)
            write(os.path.join(dirs["safetensors"], f"valid_{src_name}.safetensors"), data)
            for set_name, flags in settings.items():
                if src_name != "stories_f16" and set_name not in ("b4_g64", "b16_lossless", "b2_g32_r8"):
                    continue
                out = os.path.join(tmp, f"{src_name}_{set_name}.kvc")
                subprocess.run([args.kvc, "compress", src, "-o", out, "--no-verify", *flags],
                               check=True, stdout=subprocess.DEVNULL)
                blobs[f"{src_name}_{set_name}"] = open(out, "rb").read()
    for name, blob in blobs.items():
        write(os.path.join(dirs["decompress"], name + ".kvc"), blob)

    # verify/: damaged copies of a few blobs.
    for name in ("stories_f16_b4_g64", "stories_f16_k16_v4", "smol_f16_b2_g32_r8"):
        blob = blobs[name]
        for cut in (7, 8, 40, len(blob) // 2, len(blob) - 25, len(blob) - 1):
            write(os.path.join(dirs["verify"], f"{name}_truncated_{cut}.kvc"), blob[:cut])
        for i in range(6):
            damaged = bytearray(blob)
            pos = rng.randrange(8, len(blob))
            damaged[pos] ^= 1 << rng.randrange(8)
            write(os.path.join(dirs["verify"], f"{name}_bitflip_{pos}.kvc"), bytes(damaged))
        write(os.path.join(dirs["verify"], f"{name}_major2.kvc"), blob[:4] + b"\x02\x00" + blob[6:])
    write(os.path.join(dirs["verify"], "empty.kvc"), b"")
    write(os.path.join(dirs["verify"], "magic_only.kvc"), b"\x89KVC\x01\x00\x00\x00")

    # safetensors/: malformed files next to the valid ones.
    good = sources["stories_f16"]
    (n,) = struct.unpack("<Q", good[:8])
    header = json.loads(good[8 : 8 + n])
    malformed = {
        "empty": b"",
        "short_length": b"\x10\x00\x00",
        "huge_header_length": struct.pack("<Q", 1 << 62) + b"{}",
        "header_past_end": struct.pack("<Q", 4096) + b"{}",
        "not_json": struct.pack("<Q", 8) + b"{{{{[[[[",
        "json_not_object": struct.pack("<Q", 8) + b"[1,2,3] ",
        "deep_json": struct.pack("<Q", 4000) + b"[" * 2000 + b"]" * 2000,
        "truncated_data": good[: len(good) - 100],
        "no_tensors": safetensors_bytes({}, {"num_layers": "1"}),
    }

    def edited(edit):
        h = json.loads(json.dumps(header))
        edit(h)
        text = json.dumps(h, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        return struct.pack("<Q", len(text)) + text + good[8 + n :]

    malformed["offsets_overlap"] = edited(lambda h: h["layer_1_key"].update(data_offsets=[0, 1536]))
    malformed["offsets_reversed"] = edited(lambda h: h["layer_0_key"].update(data_offsets=[1536, 0]))
    malformed["offsets_huge"] = edited(
        lambda h: h["layer_0_key"].update(data_offsets=[0, 18446744073709551615]))
    malformed["shape_mismatch"] = edited(lambda h: h["layer_0_key"].update(shape=[1, 2, 48, 9]))
    malformed["shape_overflow"] = edited(
        lambda h: h["layer_0_key"].update(shape=[4294967296, 4294967296, 4294967296, 8]))
    malformed["shape_zero"] = edited(lambda h: h["layer_0_key"].update(shape=[1, 0, 48, 8]))
    malformed["dtype_i8"] = edited(lambda h: h["layer_0_key"].update(dtype="I8"))
    malformed["dtype_mixed"] = edited(lambda h: h["layer_1_value"].update(dtype="BF16"))
    malformed["missing_value"] = edited(lambda h: h.pop("layer_1_value"))
    malformed["metadata_disagrees"] = edited(lambda h: h["__metadata__"].update(num_layers="7"))
    malformed["metadata_not_number"] = edited(lambda h: h["__metadata__"].update(head_dim="x8"))
    malformed["layer_gap"] = edited(lambda h: h.update(layer_5_key=h["layer_0_key"]))
    for name, data in malformed.items():
        write(os.path.join(dirs["safetensors"], f"malformed_{name}.safetensors"), data)

    # roundtrip/: 12 control bytes (see roundtrip_fuzz.cpp) followed by real cache bytes.
    k = np.ascontiguousarray(stories["layer_0_key"]).tobytes()
    s = np.ascontiguousarray(smol["layer_0_key"]).tobytes()
    controls = {
        "stories_b4": (bytes([0, 1, 47, 7, 1, 0, 2, 2, 1, 0, 2, 0]), k),
        "stories_b2_recent": (bytes([1, 0, 31, 7, 1, 1, 0, 0, 0, 9, 1, 2]), k),
        "smol_b3_f16": (bytes([0, 0, 23, 63, 1, 0, 1, 1, 2, 0, 3, 1]), s),
        "smol_lossless": (bytes([0, 1, 10, 63, 1, 3, 4, 4, 0, 0, 0, 2]), s),
        "smol_b8_f32_padded": (bytes([0, 0, 15, 31, 0, 2, 3, 3, 1, 4, 2, 0]), s),
        "bf16_short": (bytes([0, 0, 4, 5, 2, 0, 0, 0, 0, 1, 1, 1]), k[:256]),
    }
    for name, (c, data) in controls.items():
        write(os.path.join(dirs["roundtrip"], name + ".bin"), c + data)

    # selection/: 20 control bytes (see selection_fuzz.cpp) followed by real cache bytes, which
    # also give the queries: every policy, shared and per head, GQA, a sliding window, limits.
    controls = {
        "stories_attention_shared": (bytes([0, 1, 47, 7, 1, 2, 2, 1, 0, 1, 89, 49, 0, 0, 2, 4,
                                            0, 0, 1, 3]), k),
        "stories_attention_perhead_max": (bytes([1, 1, 47, 7, 1, 4, 4, 0, 8, 1, 49, 0, 2, 10, 1,
                                                 2, 0, 1, 0, 11]), k),
        "stories_keynorm_window": (bytes([0, 1, 40, 7, 1, 0, 1, 2, 0, 2, 0, 29, 4, 0, 2, 4, 130,
                                          1, 0, 0]), k),
        "stories_recency_bf16_lossless": (bytes([0, 0, 31, 15, 2, 4, 4, 0, 0, 3, 0, 49, 0, 0, 2,
                                                 4, 0, 0, 0, 0]), k),
        "stories_none_window_f32": (bytes([0, 1, 40, 7, 0, 2, 3, 1, 5, 0, 0, 0, 0, 0, 0, 0, 120,
                                           0, 0, 0]), k),
        "smol_attention_gqa": (bytes([0, 0, 23, 63, 1, 2, 2, 1, 0, 1, 94, 0, 0, 0, 4, 4, 0, 0, 2,
                                      5]), s),
    }
    for name, (c, data) in controls.items():
        write(os.path.join(dirs["selection"], name + ".bin"), c + data)


if __name__ == "__main__":
    main()
