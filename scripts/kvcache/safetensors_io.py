# Hand-written safetensors writer/reader for KV-cache files (+ the <name>.metadata.json sidecar).
"""safetensors without the safetensors package.

File layout: ``u64 little-endian N`` | ``N bytes of UTF-8 JSON header`` (padded with spaces so the data
starts 8-byte aligned) | raw little-endian tensor data.  The header maps tensor names to
``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative to the start of the data) and
has an optional ``"__metadata__"`` dict of string -> string.

KV-cache convention (see write_kv_cache): tensors ``layer_{i}_key`` / ``layer_{i}_value`` of shape
``[1, num_kv_heads, seq_len, head_dim]`` in layer order (key then value), contiguous, no gaps or
overlap.  Every tensor's byte size here is a multiple of 8, so every offset is 8-byte aligned too.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Mapping

import numpy as np

__all__ = [
    "write_safetensors",
    "read_safetensors",
    "read_safetensors_header",
    "write_kv_cache",
    "read_kv_cache",
    "write_queries",
    "sidecar_path",
    "queries_path",
    "DTYPES",
]

# user-facing dtype name -> safetensors dtype tag
DTYPES = {"float16": "F16", "float32": "F32", "bfloat16": "BF16"}
_ST_TO_NP = {"F16": np.float16, "F32": np.float32, "F64": np.float64, "BF16": np.uint16,
             "I8": np.int8, "U8": np.uint8, "I16": np.int16, "I32": np.int32, "I64": np.int64}


def _to_bf16_bits(a: np.ndarray) -> np.ndarray:
    """fp32 -> bf16 bit patterns (uint16), round to nearest even; NaN stays NaN."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = ((u + np.uint32(0x7FFF) + ((u >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype(np.uint16)
    nan = np.isnan(a)
    if nan.any():
        rounded = np.where(nan, np.uint16(0x7FC0), rounded)
    return rounded


def _bf16_bits_to_f32(b: np.ndarray) -> np.ndarray:
    return (b.astype(np.uint32) << np.uint32(16)).view(np.float32)


def _encode(arr: np.ndarray, dtype: str):
    """Return (safetensors dtype tag, little-endian bytes) for arr stored as dtype ('float16', ...)."""
    if dtype == "bfloat16":
        return "BF16", _to_bf16_bits(arr).astype("<u2").tobytes()
    if dtype == "float16":
        return "F16", np.ascontiguousarray(arr, dtype="<f2").tobytes()
    if dtype == "float32":
        return "F32", np.ascontiguousarray(arr, dtype="<f4").tobytes()
    raise ValueError(f"unsupported dtype {dtype!r} (use one of {sorted(DTYPES)})")


def write_safetensors(path: str, tensors: Mapping[str, np.ndarray], dtype: str = "float16",
                      metadata: Mapping[str, str] | None = None) -> None:
    """Write tensors (in the mapping's order) converted to dtype. Metadata values become strings."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    off = 0
    for name, arr in tensors.items():
        arr = np.asarray(arr)
        tag, data = _encode(arr, dtype)
        if off % 8:
            raise ValueError(f"{name}: offset {off} not 8-byte aligned (previous tensor size not a multiple of 8)")
        header[name] = {"dtype": tag, "shape": [int(s) for s in arr.shape], "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    hjson = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-(8 + len(hjson))) % 8)  # data section starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors_header(path: str):
    """(header dict without __metadata__, metadata dict, absolute byte offset of the data section)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    return header, meta, 8 + n


def read_safetensors(path: str, bf16_as_float32: bool = True):
    """Return (dict name -> numpy array, metadata).  Checks offsets are in-bounds, ordered, gap-free.

    BF16 tensors come back as float32 (exact) unless bf16_as_float32=False (then raw uint16 bits).
    """
    header, meta, data_start = read_safetensors_header(path)
    size = os.path.getsize(path) - data_start
    with open(path, "rb") as f:
        f.seek(data_start)
        raw = f.read()
    items = sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0])
    expect = 0
    out = {}
    for name, info in items:
        b, e = info["data_offsets"]
        if b != expect or e < b or e > size:
            raise ValueError(f"{path}: tensor {name} has bad data_offsets {b, e} (expected start {expect})")
        expect = e
        np_dt = np.dtype(_ST_TO_NP[info["dtype"]]).newbyteorder("<")
        shape = tuple(info["shape"])
        count = int(np.prod(shape)) if shape else 1
        if count * np_dt.itemsize != e - b:
            raise ValueError(f"{path}: tensor {name} size mismatch")
        a = np.frombuffer(raw, dtype=np_dt, count=count, offset=b).reshape(shape)
        if info["dtype"] == "BF16" and bf16_as_float32:
            a = _bf16_bits_to_f32(a)
        out[name] = a
    if expect != size:
        raise ValueError(f"{path}: {size - expect} trailing bytes after the last tensor")
    # keep the file's declared order (safetensors headers are unordered JSON objects; ours are in layer order)
    return {k: out[k] for k in header}, meta


def sidecar_path(path: str) -> str:
    """cache.safetensors -> cache.metadata.json"""
    base = path[: -len(".safetensors")] if path.endswith(".safetensors") else path
    return base + ".metadata.json"


def queries_path(path: str) -> str:
    """cache.safetensors -> cache.queries.safetensors"""
    base = path[: -len(".safetensors")] if path.endswith(".safetensors") else path
    return base + ".queries.safetensors"


def write_kv_cache(path: str, keys, values, dtype: str = "float16", model_name: str = "",
                   extra_metadata: Mapping | None = None) -> dict:
    """Write per-layer K/V ([num_kv_heads, seq_len, head_dim] each) as [1, H, T, D] tensors + sidecar.

    Returns the sidecar metadata dict.
    """
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}")
    if len(keys) != len(values) or not keys:
        raise ValueError("need the same non-zero number of key and value layers")
    H, T, D = keys[0].shape
    tensors = {}
    for i, (k, v) in enumerate(zip(keys, values)):
        if k.shape != (H, T, D) or v.shape != (H, T, D):
            raise ValueError(f"layer {i}: shapes {k.shape} / {v.shape} differ from {(H, T, D)}")
        tensors[f"layer_{i}_key"] = np.asarray(k)[None]
        tensors[f"layer_{i}_value"] = np.asarray(v)[None]
    meta = {"num_layers": len(keys), "num_kv_heads": int(H), "seq_len": int(T), "head_dim": int(D),
            "dtype": dtype, "model_name": model_name}
    if extra_metadata:
        for k, v in extra_metadata.items():
            meta.setdefault(k, v)
    st_meta = {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()}
    write_safetensors(path, tensors, dtype=dtype, metadata=st_meta)
    with open(sidecar_path(path), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    return meta


def write_queries(path: str, queries, model_name: str = "", extra_metadata: Mapping | None = None) -> str:
    """Write per-layer queries ([q_heads, N, head_dim]) to <name>.queries.safetensors as F32 [1, Hq, N, D]."""
    qpath = queries_path(path)
    Hq, N, D = queries[0].shape
    meta = {"num_layers": len(queries), "num_q_heads": Hq, "num_queries": N, "head_dim": D,
            "dtype": "float32", "model_name": model_name}
    if extra_metadata:
        for k, v in extra_metadata.items():
            meta.setdefault(k, v)
    write_safetensors(qpath, {f"layer_{i}_query": np.asarray(q)[None] for i, q in enumerate(queries)},
                      dtype="float32", metadata={k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    return qpath


def read_kv_cache(path: str):
    """Return (keys, values, sidecar_metadata): lists of [1, H, T, D] arrays in layer order."""
    tensors, _ = read_safetensors(path)
    with open(sidecar_path(path), encoding="utf-8") as f:
        meta = json.load(f)
    n = int(meta["num_layers"])
    keys = [tensors[f"layer_{i}_key"] for i in range(n)]
    values = [tensors[f"layer_{i}_value"] for i in range(n)]
    return keys, values, meta
