# generate.py: makes the conformance vectors (conformance/valid, invalid, manifest.json) through
# the Python binding; --check regenerates them and fails if a committed vector would change.
"""Valid vectors are compressed from deterministic inputs (splitmix64, defined below) with the
parameters the manifest records; their expected tensors are the SHA-256 and size of what each
listed decode gives. Invalid vectors are edits of a valid blob (checksums recomputed where the
edit is meant to reach a later check); each names the status the specification requires, and
the library must agree before anything is written.

    python conformance/tools/generate.py            # rewrite conformance/ (a format change!)
    python conformance/tools/generate.py --check    # regenerate in memory and compare
"""
import argparse
import ctypes
import hashlib
import json
import pathlib
import re
import struct
import sys

import numpy as np
import xxhash

import kvc
from kvc import _ffi

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
import independent_reader  # noqa: E402  (the same folder; its FlatBuffers helpers locate fields)

DTYPE_NAMES = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
DTYPE_CODES = {"f32": _ffi.KVC_DTYPE_F32, "f16": _ffi.KVC_DTYPE_F16, "bf16": _ffi.KVC_DTYPE_BF16}
SMALL = dict(layers=2, kv_heads=2, tokens=40, head_dim=32)
WIDE = dict(layers=1, kv_heads=1, tokens=136, head_dim=128)  # full 128-groups on both axes

# The manifest names params as the format's header does; two C fields carry longer names.
C_FIELDS = {"recent_tokens": "recent_full_precision_tokens",
            "keep_recent": "recent_always_kept_tokens"}


def compress_params(params):
    """kvc.CompressParams of manifest-named params."""
    return kvc.CompressParams(**{C_FIELDS.get(k, k): v for k, v in params.items()})


# name: (shape, dtype, compress params beyond the defaults, what it covers)
VALID = {
    "bits4_g64_f16": (SMALL, "f16", dict(key_bits=4, value_bits=4, group_size=64),
                      "the default codec: 4-bit keys and values, groups of 64, zstd 1"),
    "bits2_g32_f16": (SMALL, "f16", dict(key_bits=2, value_bits=2, group_size=32),
                      "2-bit codes, groups of 32"),
    "bits3_g64_f16": (SMALL, "f16", dict(key_bits=3, value_bits=3, group_size=64),
                      "3-bit codes that straddle byte boundaries"),
    "bits8_g128_wide_f16": (WIDE, "f16", dict(key_bits=8, value_bits=8, group_size=128),
                            "8-bit codes, full 128-token key groups and 128-channel value groups"),
    "bits4_g128_partial_f16": (SMALL, "f16", dict(key_bits=4, value_bits=4, group_size=128),
                               "group larger than the tokens (keys) and than head_dim (values)"),
    "bits4_g32_f32": (SMALL, "f32", dict(key_bits=4, value_bits=4, group_size=32),
                      "float32 input, groups of 32"),
    "bits4_g64_bf16": (SMALL, "bf16", dict(key_bits=4, value_bits=4, group_size=64),
                       "bfloat16 input"),
    "mixed_k8_v2_f16": (SMALL, "f16", dict(key_bits=8, value_bits=2, group_size=64),
                        "different key and value bits"),
    "mixed_k16_v4_f16": (SMALL, "f16", dict(key_bits=16, value_bits=4, group_size=64),
                         "raw keys beside quantized values"),
    "recent8_bits4_f16": (SMALL, "f16", dict(key_bits=4, value_bits=4, recent_tokens=8),
                          "recent window: the newest 8 tokens kept exactly"),
    "recent_all_bits2_f16": (SMALL, "f16", dict(key_bits=2, value_bits=2, recent_tokens=64),
                             "recent window longer than the cache: nothing quantized"),
    "zstd_off_bits4_f16": (SMALL, "f16", dict(key_bits=4, value_bits=4, zstd_level=0),
                           "no entropy stage: every section stored"),
    "zstd19_bits4_f32": (SMALL, "f32", dict(key_bits=4, value_bits=4, zstd_level=19),
                         "a high Zstandard level"),
    "lossless_f16": (SMALL, "f16", dict(key_bits=16, value_bits=16),
                     "bits 16: Raw chunks, zstd with shuffle auto"),
    "lossless_shuffle_on_f32": (SMALL, "f32", dict(key_bits=16, value_bits=16,
                                                   byte_shuffle=_ffi.KVC_SHUFFLE_ON),
                                "4-byte planes shuffled before zstd"),
    "lossless_shuffle_off_bf16": (SMALL, "bf16", dict(key_bits=16, value_bits=16,
                                                      byte_shuffle=_ffi.KVC_SHUFFLE_OFF),
                                  "bfloat16 kept bit for bit, no shuffle"),
    "lossless_zstd_off_f32": (SMALL, "f32", dict(key_bits=16, value_bits=16, zstd_level=0),
                              "the raw elements stored as they are"),
    "shuffle_on_bits8_f32": (SMALL, "f32", dict(key_bits=8, value_bits=8,
                                                byte_shuffle=_ffi.KVC_SHUFFLE_ON,
                                                recent_tokens=4),
                             "shuffled side data and recent elements"),
}

QUERIES = dict(num_query_heads=4, num_queries=3)  # grouped-query: 2 query heads per KV head

# Token selection (format 1.1): name: (shape, dtype, params, queries?, what it covers)
SELECTION = {
    "select_recency_bits4_f16": (SMALL, "f16", dict(
        key_bits=4, value_bits=4, selection=_ffi.KVC_SELECT_RECENCY, keep_ratio=0.5,
        sink_tokens=4, keep_recent=8), False,
        "recency selection: sinks and the newest half; kept positions in the chunks"),
    "select_key_norm_per_head_f32": (SMALL, "f32", dict(
        key_bits=8, value_bits=4, selection=_ffi.KVC_SELECT_KEY_NORM, keep_ratio=0.4,
        sink_tokens=2, keep_recent=4, per_head=1), False,
        "key-norm selection per KV head: one row of positions per head"),
    "select_attention_queries_f16": (SMALL, "f16", dict(
        key_bits=4, value_bits=4, selection=_ffi.KVC_SELECT_ATTENTION, attention_threshold=0.6,
        sink_tokens=2, keep_recent=4, recent_tokens=2), True,
        "attention selection from grouped queries, layers keeping different counts"),
    "sliding_window_lossless_bf16": (SMALL, "bf16", dict(
        key_bits=16, value_bits=16, sliding_window=24), False,
        "sliding window of 24: older tokens dropped, the rest kept bit for bit"),
}

# Decodes listed for every valid vector: all layers as stored, layer 1 alone, and float32.
DECODES = [dict(dtype=None, first_layer=0, num_layers=0),
           dict(dtype=None, first_layer=1, num_layers=1),
           dict(dtype="f32", first_layer=0, num_layers=0),
           dict(dtype="bf16", first_layer=0, num_layers=1)]
# And for selection vectors: scattered to the original length, whole and layer 1 alone.
SCATTER_DECODES = [dict(dtype=None, first_layer=0, num_layers=0, scatter=1),
                   dict(dtype="f32", first_layer=1, num_layers=1, scatter=1)]


# ---- Inputs -------------------------------------------------------------------------------
def splitmix64(seed, count):
    """count uint64 outputs of splitmix64 from seed (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        state = np.uint64(seed) + np.arange(1, count + 1, dtype=np.uint64) * np.uint64(
            0x9E3779B97F4A7C15)
        z = state
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def make_input(shape, seed):
    """float32 [layers][heads][tokens][head_dim]: uniform in [-1, 1) in steps of 2^-23, with
    channel scales 1..8 (a few outlier channels of keys) and a drift along tokens."""
    dims = (shape["layers"], shape["kv_heads"], shape["tokens"], shape["head_dim"])
    n = int(np.prod(dims))
    u = (splitmix64(seed, n) >> np.uint64(40)).astype(np.int64)  # 24 random bits
    x = ((u - (1 << 23)).astype(np.float32) / np.float32(1 << 23)).reshape(dims)
    channel_scale = np.float32(1) + (np.arange(dims[3]) % 8 == 3).astype(np.float32) * 7
    drift = np.arange(dims[2], dtype=np.float32)[:, None] / np.float32(64)
    return (x * channel_scale + drift).astype(np.float32)


def as_dtype(x, dtype):
    """x in dtype as a numpy array the binding takes (bf16 as uint16 bits, rounded to even)."""
    if dtype == "f32":
        return x
    if dtype == "f16":
        return x.astype(np.float16)
    return np.frombuffer(independent_reader.from_f32(x, "bf16"), np.uint16).reshape(x.shape)


# ---- Valid vectors -------------------------------------------------------------------------
def sha256(data):
    return hashlib.sha256(data).hexdigest()


def c_buffer(array):
    data = np.ascontiguousarray(array).tobytes()
    return ctypes.create_string_buffer(data, len(data))


def raw_compress(ctx, params, shape, dtype, keys, values, queries):
    """kvc_compress_with_queries through the raw layer (queries None: none)."""
    p = compress_params(params)._c
    s = _ffi.kvc_cache_shape()
    _ffi.kvc_cache_shape_default(ctypes.byref(s), ctypes.sizeof(s))
    s.num_layers, s.num_kv_heads = shape["layers"], shape["kv_heads"]
    s.num_tokens, s.head_dim, s.dtype = shape["tokens"], shape["head_dim"], DTYPE_CODES[dtype]
    q_shape, q_data, q_size = None, None, 0
    if queries is not None:
        q_shape = _ffi.kvc_query_shape()
        _ffi.kvc_query_shape_default(ctypes.byref(q_shape), ctypes.sizeof(q_shape))
        q_shape.num_query_heads, q_shape.num_queries = queries.shape[0], queries.shape[1]
        q_shape.head_dim, q_shape.dtype = queries.shape[2], DTYPE_CODES[dtype]
        q_shape, q_data = ctypes.byref(q_shape), c_buffer(queries)
        q_size = len(q_data)
    out = ctypes.create_string_buffer(_ffi.kvc_compress_bound(ctypes.byref(p), ctypes.byref(s)))
    n = ctypes.c_size_t()
    k_data, v_data = c_buffer(keys), c_buffer(values)
    st = _ffi.kvc_compress_with_queries(ctx._ptr, ctypes.byref(p), ctypes.byref(s), k_data,
                                        len(k_data), v_data, len(v_data), q_shape, q_data,
                                        q_size, out, len(out), ctypes.byref(n), None)
    if st != _ffi.KVC_OK:
        raise kvc.KvcError(st, _ffi.kvc_context_last_error(ctx._ptr).decode())
    return out.raw[:n.value]


def decompress_params(dtype_code, first_layer, num_layers, scatter=0):
    p = _ffi.kvc_decompress_params()
    _ffi.kvc_decompress_params_default(ctypes.byref(p), ctypes.sizeof(p))
    p.dtype, p.first_layer, p.num_layers, p.scatter = dtype_code, first_layer, num_layers, scatter
    return p


def raw_call(ctx, fn, *args):
    st = fn(ctx._ptr, *args)
    if st != _ffi.KVC_OK:
        raise kvc.KvcError(st, _ffi.kvc_context_last_error(ctx._ptr).decode())


def raw_decompress(ctx, blob, p):
    """(keys, values) bytes of kvc_decompress with params p, sized by a first call."""
    need = ctypes.c_size_t()
    st = _ffi.kvc_decompress(ctx._ptr, ctypes.byref(p), blob, len(blob), None, None, 0,
                             ctypes.byref(need))
    if st != _ffi.KVC_ERR_BUFFER_TOO_SMALL:
        raw_call(ctx, lambda *_: st)
    keys, values = (ctypes.create_string_buffer(max(need.value, 1)) for _ in range(2))
    n = ctypes.c_size_t()
    raw_call(ctx, _ffi.kvc_decompress, ctypes.byref(p), blob, len(blob), keys, values,
             need.value, ctypes.byref(n))
    return keys.raw[:n.value], values.raw[:n.value]


def raw_positions(ctx, blob, p, layers):
    """(layer counts, positions) of kvc_decompress_positions for the layers p selects."""
    counts = (ctypes.c_uint32 * max(layers, 1))()
    need = ctypes.c_size_t()
    st = _ffi.kvc_decompress_positions(ctx._ptr, ctypes.byref(p), blob, len(blob), counts,
                                       len(counts), None, 0, ctypes.byref(need))
    if st != _ffi.KVC_ERR_BUFFER_TOO_SMALL:
        raw_call(ctx, lambda *_: st)
    positions = (ctypes.c_uint32 * max(need.value, 1))()
    n = ctypes.c_size_t()
    raw_call(ctx, _ffi.kvc_decompress_positions, ctypes.byref(p), blob, len(blob), counts,
             len(counts), positions, need.value, ctypes.byref(n))
    return list(counts)[:layers], list(positions)[:n.value]


def raw_mask(ctx, blob, p):
    need = ctypes.c_size_t()
    st = _ffi.kvc_decompress_mask(ctx._ptr, ctypes.byref(p), blob, len(blob), None, 0,
                                  ctypes.byref(need))
    if st != _ffi.KVC_ERR_BUFFER_TOO_SMALL:
        raw_call(ctx, lambda *_: st)
    mask = ctypes.create_string_buffer(max(need.value, 1))
    n = ctypes.c_size_t()
    raw_call(ctx, _ffi.kvc_decompress_mask, ctypes.byref(p), blob, len(blob), mask, need.value,
             ctypes.byref(n))
    return mask.raw[:n.value]


def make_valid(ctx, index, name, spec, with_queries=False, selection=False):
    shape, dtype, params, covers = spec
    seed = 1000 + index
    keys = as_dtype(make_input(shape, seed), dtype)
    values = as_dtype(make_input(shape, seed + 500), dtype)
    queries = None
    if with_queries:
        q = make_input(dict(layers=1, kv_heads=QUERIES["num_query_heads"],
                            tokens=QUERIES["num_queries"], head_dim=shape["head_dim"]), seed + 900)
        queries = as_dtype(q[0] * np.float32(2), dtype)
    p = compress_params(params)
    if selection:
        blob = raw_compress(ctx, params, shape, dtype, keys, values, queries)
    else:
        blob = ctx.compress(keys, values, p, dtype=DTYPE_NAMES[dtype])
    info = ctx.inspect(blob)
    decodes = []
    for d in DECODES + (SCATTER_DECODES if selection else []):
        layers = d["num_layers"] or shape["layers"] - d["first_layer"]
        if d["first_layer"] + layers > shape["layers"]:
            continue
        code = DTYPE_CODES.get(d["dtype"], _ffi.KVC_DTYPE_AS_STORED)
        dp = decompress_params(code, d["first_layer"], d["num_layers"], d.get("scatter", 0))
        kb, vb = raw_decompress(ctx, blob, dp)
        entry = dict(dtype=d["dtype"] or "as_stored", dtype_code=code,
                     first_layer=d["first_layer"], num_layers=d["num_layers"],
                     scatter=d.get("scatter", 0), tensor_bytes=len(kb), keys_sha256=sha256(kb),
                     values_sha256=sha256(vb))
        if selection:
            counts, positions = raw_positions(ctx, blob, dp, layers)
            entry.update(layer_counts=counts, positions=positions,
                         mask_sha256=sha256(raw_mask(ctx, blob, dp)))
        decodes.append(entry)
    if params.get("key_bits") == 16 and params.get("value_bits") == 16 and not selection:
        full = decodes[0]
        assert full["keys_sha256"] == sha256(keys.tobytes()), f"{name}: lossless keys changed"
        assert full["values_sha256"] == sha256(values.tobytes()), f"{name}: lossless values"
    input_spec = dict(generator="splitmix64", key_seed=seed, value_seed=seed + 500, dtype=dtype,
                      **shape)
    if with_queries:
        input_spec["queries"] = dict(seed=seed + 900, scale=2, per_layer=0, **QUERIES)
    entry = dict(
        name=name, file=f"valid/{name}.kvc", covers=covers, size=len(blob), sha256=sha256(blob),
        input=input_spec,
        params={k: getattr(p, C_FIELDS.get(k, k)) for k in (
            "key_bits", "value_bits", "group_size", "recent_tokens", "zstd_level",
            "byte_shuffle")},
        info=dict(format_major=info.format_major, format_minor=info.format_minor,
                  num_layers=info.num_layers, num_kv_heads=info.num_kv_heads,
                  num_tokens=info.num_tokens, head_dim=info.head_dim, dtype=DTYPE_CODES[dtype],
                  key_bits=info.key_bits, value_bits=info.value_bits,
                  group_size=info.group_size,
                  recent_tokens=info.recent_full_precision_tokens,
                  num_chunks=info.num_chunks),
        decodes=decodes)
    if selection:
        entry["params"].update({k: getattr(p, C_FIELDS.get(k, k)) for k in (
            "selection", "attention_threshold", "keep_ratio", "min_tokens", "max_tokens",
            "sink_tokens", "keep_recent", "sliding_window", "per_head")})
    return entry, blob


# ---- Invalid vectors: edits of a valid blob ------------------------------------------------
class Layout:
    """Where the messages and their checksum fields lie in a blob (read with the schema)."""

    def __init__(self, blob):
        self.blob = bytearray(blob)
        self.footer_offset = struct.unpack_from("<Q", blob, len(blob) - 24)[0]
        self.header_offset = 8
        refs = self.field(self.footer_offset, 0)
        refs += struct.unpack_from("<I", blob, refs)[0]
        self.chunk_offsets = [struct.unpack_from("<Q", blob, refs + 4 + 24 * i)[0]
                              for i in range(struct.unpack_from("<I", blob, refs)[0])]

    def message(self, offset):
        """(begin of the FlatBuffer, its length) of the message at offset."""
        return offset + 4, struct.unpack_from("<I", self.blob, offset)[0]

    def field(self, offset, slot):
        """Absolute position of field slot of the body table of the message at offset."""
        begin, _ = self.message(offset)
        buf = self.blob
        root = begin + struct.unpack_from("<I", buf, begin)[0]
        vt = root - struct.unpack_from("<i", buf, root)[0]
        body = root + struct.unpack_from("<H", buf, vt + 6)[0]
        table = body + struct.unpack_from("<I", buf, body)[0]
        vt = table - struct.unpack_from("<i", buf, table)[0]
        field = struct.unpack_from("<H", buf, vt + 4 + 2 * slot)[0]
        assert field, f"field {slot} absent"
        return table + field

    def refresh_checksums(self):
        """Recomputes every checksum (payloads, chunk messages, header, content, footer)."""
        buf = self.blob
        footer_begin, _ = self.message(self.footer_offset)
        refs = self.field(self.footer_offset, 0)
        refs += struct.unpack_from("<I", buf, refs)[0] + 4
        for i, offset in enumerate(self.chunk_offsets):
            begin, n = self.message(offset)
            payload_bytes = struct.unpack_from("<Q", buf, self.field(offset, 11))[0]
            payload = buf[begin + n:begin + n + payload_bytes]
            struct.pack_into("<Q", buf, self.field(offset, 12), xxhash.xxh3_64_intdigest(payload))
            struct.pack_into("<Q", buf, refs + 24 * i + 8,
                             xxhash.xxh3_64_intdigest(buf[offset:begin + n]))
        begin, n = self.message(self.header_offset)
        struct.pack_into("<Q", buf, self.field(self.footer_offset, 1),
                         xxhash.xxh3_64_intdigest(buf[self.header_offset:begin + n]))
        struct.pack_into("<Q", buf, self.field(self.footer_offset, 2),
                         xxhash.xxh3_64_intdigest(buf[:self.footer_offset]))
        begin, n = self.message(self.footer_offset)
        struct.pack_into("<Q", buf, len(buf) - 16,
                         xxhash.xxh3_64_intdigest(buf[self.footer_offset:begin + n]))
        return bytes(buf)


def put(blob, offset, fmt, value):
    out = bytearray(blob)
    struct.pack_into(fmt, out, offset, value)
    return bytes(out)


def edited(blob, edit):
    """Applies edit(layout) to a copy of blob, then recomputes every checksum."""
    layout = Layout(blob)
    edit(layout)
    return layout.refresh_checksums()


def set_field(offset_of, slot, fmt, value):
    def edit(layout):
        struct.pack_into(fmt, layout.blob, layout.field(offset_of(layout), slot), value)
    return edit


HEADER = lambda layout: layout.header_offset  # noqa: E731
CHUNK0 = lambda layout: layout.chunk_offsets[0]  # noqa: E731
CHUNK2 = lambda layout: layout.chunk_offsets[2]  # noqa: E731  (layer 1 keys)
CORRUPT, UNSUPPORTED = "KVC_ERR_CORRUPT_DATA", "KVC_ERR_UNSUPPORTED_VERSION"


def invalid_vectors(base):
    """[(name, blob, status, why)], every one an edit of the valid blob base."""
    size = len(base)
    footer_offset = struct.unpack_from("<Q", base, size - 24)[0]
    layout = Layout(base)
    chunk0_begin, chunk0_n = layout.message(layout.chunk_offsets[0])
    payload0 = chunk0_begin + chunk0_n
    return [
        ("empty", b"", CORRUPT, "zero bytes"),
        ("bad_magic", put(base, 0, "<B", 0x88), CORRUPT, "first magic byte changed"),
        ("unknown_major", put(base, 4, "<H", 2), UNSUPPORTED, "format major version 2"),
        ("unknown_major_truncated", put(base, 4, "<H", 7)[:8], UNSUPPORTED,
         "major 7 is rejected before anything else is read, even the size"),
        ("preamble_only", base[:8], CORRUPT, "truncated to the 8-byte preamble"),
        ("truncated_half", base[:size // 2], CORRUPT, "cut in half"),
        ("truncated_one_byte", base[:-1], CORRUPT, "the last byte missing"),
        ("bad_end_magic", put(base, size - 1, "<B", 0x0B), CORRUPT, "trailer magic changed"),
        ("footer_checksum_mismatch", put(base, size - 16, "<Q", 0x1234), CORRUPT,
         "trailer's footer checksum wrong"),
        ("payload_bit_flip", put(base, payload0, "<B", base[payload0] ^ 0x10), CORRUPT,
         "one bit of chunk 0's payload flipped: payload and content checksums mismatch"),
        ("header_bit_flip", put(base, 20, "<B", base[20] ^ 0x01), CORRUPT,
         "one bit of the header message flipped: header and content checksums mismatch"),
        ("footer_offset_out_of_range", put(base, size - 24, "<Q", size + 100), CORRUPT,
         "trailer's footer offset past the end"),
        ("footer_offset_huge", put(base, size - 24, "<Q", 0xFFFFFFFFFFFFFFF0), CORRUPT,
         "trailer's footer offset near 2^64 (no overflow on bounds checks)"),
        ("header_size_too_large", put(base, 8, "<I", 0xFFFFFFF0), CORRUPT,
         "header size prefix of 4 GiB, more than the blob and the 64 MiB limit"),
        ("chunk_offset_out_of_range",
         edited(base, lambda l: struct.pack_into(
             "<Q", l.blob, l.field(l.footer_offset, 0) + struct.unpack_from(
                 "<I", l.blob, l.field(l.footer_offset, 0))[0] + 4, footer_offset + 4096)),
         CORRUPT, "footer's first chunk offset past the footer; every checksum recomputed"),
        ("header_root_offset_out_of_range",
         edited(base, lambda l: struct.pack_into("<I", l.blob, l.header_offset + 4, 0x7FFFFFF0)),
         CORRUPT, "FlatBuffers verifier: the header's root offset points outside the message; "
         "checksums recomputed"),
        ("header_vtable_out_of_range",
         edited(base, lambda l: struct.pack_into(
             "<i", l.blob, l.header_offset + 4 + struct.unpack_from(
                 "<I", l.blob, l.header_offset + 4)[0], -0x100000)),
         CORRUPT, "FlatBuffers verifier: the header's vtable lies outside the message; "
         "checksums recomputed"),
        ("header_bad_identifier",
         edited(base, lambda l: struct.pack_into("<4s", l.blob, l.header_offset + 8, b"KVC9")),
         CORRUPT, "header message identifier KVC9 instead of KVC1; checksums recomputed"),
        ("num_layers_too_large", edited(base, set_field(HEADER, 1, "<I", 5000)), CORRUPT,
         "num_layers 5000 > 4096; checksums recomputed"),
        ("tensor_too_large", edited(base, lambda l: (set_field(HEADER, 2, "<I", 4096)(l),
                                                     set_field(HEADER, 3, "<I", 0xFFFFFFFF)(l))),
         CORRUPT, "num_kv_heads 4096, num_tokens 2^32-1: heads x tokens x head_dim > 2^40; "
         "checksums recomputed"),
        ("key_bits_5", edited(base, set_field(HEADER, 6, "<B", 5)), CORRUPT,
         "key_bits 5 is not 2, 3, 4, 8 or 16; checksums recomputed"),
        ("unknown_dtype", edited(base, set_field(HEADER, 5, "<B", 9)), CORRUPT,
         "dtype 9 is not a DType; checksums recomputed"),
        ("unknown_codec", edited(base, set_field(CHUNK0, 4, "<B", 7)), CORRUPT,
         "chunk 0 codec 7 is not a Codec; checksums recomputed"),
        ("payload_bytes_too_large",
         edited(base, set_field(CHUNK0, 11, "<Q", 1 << 62)), CORRUPT,
         "chunk 0 payload_bytes 2^62, past the end; checksums recomputed"),
        ("chunk_layer_mismatch", edited(base, set_field(CHUNK2, 0, "<I", 0)), CORRUPT,
         "chunk 2 says layer 0 where the footer says layer 1; checksums recomputed"),
    ]


def set_position(chunk, index, value):
    """An edit: position index of chunk's positions vector (1.1, slot 13) set to value."""
    def edit(layout):
        where = layout.field(layout.chunk_offsets[chunk], 13)
        vector = where + struct.unpack_from("<I", layout.blob, where)[0]
        struct.pack_into("<I", layout.blob, vector + 4 + 4 * index, value)
    return edit


def invalid_selection_vectors(base):
    """[(name, blob, status, why)]: edits of the kept positions of a recency-selection blob
    (positions 0, 1, 2, 3, 24, ..., 39 of 40 tokens in every chunk)."""
    return [
        ("positions_not_ascending", edited(base, set_position(0, 4, 2)), CORRUPT,
         "chunk 0's fifth position 2 repeats an earlier one; checksums recomputed"),
        ("position_out_of_range", edited(base, set_position(0, 19, 40)), CORRUPT,
         "chunk 0's last position 40 is not below num_tokens 40; checksums recomputed"),
        ("positions_keys_values_differ", edited(base, set_position(1, 4, 23)), CORRUPT,
         "layer 0's value chunk keeps token 23 where its key chunk keeps 24; checksums "
         "recomputed"),
        ("token_count_mismatch", edited(base, set_field(CHUNK0, 3, "<I", 19)), CORRUPT,
         "chunk 0 says 19 tokens and lists 20 positions; checksums recomputed"),
    ]


def valid_edits(base):
    """[(name, blob, why)]: edits a reader must accept, decoding to base's tensors."""
    return [("future_minor", edited(put(base, 6, "<H", 99), lambda _: None),
             "format minor 99: a reader of this major reads any minor (checksums recomputed)")]


def library_statuses(ctx, blob):
    """(kvc_verify status, kvc_decompress status into two 1 MiB buffers) of blob: an invalid
    blob must fail both with its status, never ask for a larger buffer first."""
    src = ctypes.create_string_buffer(bytes(blob), len(blob))
    verify = _ffi.kvc_verify(ctx._ptr, src, len(blob))
    capacity = 1 << 20
    keys, values = ctypes.create_string_buffer(capacity), ctypes.create_string_buffer(capacity)
    n = ctypes.c_size_t()
    decompress = _ffi.kvc_decompress(ctx._ptr, None, src, len(blob), keys, values, capacity,
                                     ctypes.byref(n))
    return verify, decompress


# ---- Driver --------------------------------------------------------------------------------
def build(ctx):
    """(manifest, {relative path: bytes}) of every vector."""
    files, valid, invalid = {}, [], []
    for index, (name, spec) in enumerate(VALID.items()):
        entry, blob = make_valid(ctx, index, name, spec)
        valid.append(entry)
        files[entry["file"]] = blob
    for index, (name, (shape, dtype, params, with_queries, covers)) in enumerate(
            SELECTION.items(), start=len(VALID)):
        entry, blob = make_valid(ctx, index, name, (shape, dtype, params, covers), with_queries,
                                 selection=True)
        valid.append(entry)
        files[entry["file"]] = blob
    base_entry = valid[0]
    base = files[base_entry["file"]]
    for name, blob, why in valid_edits(base):
        entry = dict(base_entry, name=name, file=f"valid/{name}.kvc", covers=why,
                     size=len(blob), sha256=sha256(blob))
        entry["info"] = dict(base_entry["info"], format_minor=99)
        valid.append(entry)
        files[entry["file"]] = blob
    selection_base = files["valid/select_recency_bits4_f16.kvc"]
    for name, blob, status, why in invalid_vectors(base) + invalid_selection_vectors(
            selection_base):
        code = getattr(_ffi, status)
        got = library_statuses(ctx, blob)
        if got != (code, code):
            raise SystemExit(f"invalid/{name}: the library gives " + ", ".join(
                _ffi.kvc_status_name(g).decode() for g in got) + f"; the spec {status}")
        invalid.append(dict(name=name, file=f"invalid/{name}.kvc", why=why, status=status,
                            status_code=code, size=len(blob), sha256=sha256(blob)))
        files[f"invalid/{name}.kvc"] = blob
    manifest = dict(
        description="kvc .kvc conformance vectors: see conformance/README.md",
        format_major=_ffi.KVC_FORMAT_MAJOR, format_minor=base_entry["info"]["format_minor"],
        generator="conformance/tools/generate.py", valid=valid, invalid=invalid)
    return manifest, files


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="regenerate and compare with the committed vectors")
    parser.add_argument("--out", default=str(ROOT), help="folder to write (default conformance/)")
    args = parser.parse_args()
    with kvc.Context() as ctx:
        manifest, files = build(ctx)
    out = pathlib.Path(args.out)
    text = json.dumps(manifest, indent=1) + "\n"
    # Lists of numbers (kept positions) on one line each.
    text = re.sub(r"\[\n\s*((?:-?\d+,\n\s*)*-?\d+)\n\s*\]",
                  lambda m: "[" + re.sub(r",\n\s*", ", ", m.group(1)) + "]", text)
    if args.check:
        changed = [path for path, data in files.items()
                   if not (out / path).is_file() or (out / path).read_bytes() != data]
        if (out / "manifest.json").read_text() != text:
            changed.append("manifest.json")
        if changed:
            print("conformance vectors changed (a format change: bump the format version and "
                  "regenerate with conformance/tools/generate.py):\n  " + "\n  ".join(changed))
            return 1
        print(f"{len(files)} vectors and manifest.json unchanged")
        return 0
    for sub in ("valid", "invalid"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for stale in (out / sub).glob("*.kvc"):
            stale.unlink()
    for path, data in files.items():
        (out / path).write_bytes(data)
    (out / "manifest.json").write_text(text)
    print(f"wrote {len(files)} vectors, {sum(map(len, files.values()))} bytes, to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
