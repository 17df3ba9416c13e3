# independent_reader.py: a second reader of .kvc blobs, written from schema/README.md and
# schema/kvc.fbs alone (FlatBuffers Python runtime, flatc --python at run time, xxhash, zstandard).
"""Decodes a .kvc blob to packed keys and values, or raises FormatError with the kvc status a
conforming reader must give. It shares no code with libkvc: where the two disagree on a
conformance vector, either the library or the specification is wrong.

    python independent_reader.py blob.kvc [--dtype f32|f16|bf16] [--first-layer N --num-layers N]
                                          [--scatter]
"""
import argparse
import hashlib
import struct
import sys

import numpy as np
import xxhash
import zstandard

from fbs_python import load as load_schema

MAGIC = b"\x89KVC"
END_MAGIC = b"\x89KVCEND\n"
IDENTIFIER = b"KVC1"
MAX_MESSAGE_BYTES = 64 << 20
FORMAT_MAJOR = 1
DTYPES = {0: "f32", 1: "f16", 2: "bf16"}  # DType enum of the schema
ELEMENT_BYTES = {"f32": 4, "f16": 2, "bf16": 2}
CORRUPT = "KVC_ERR_CORRUPT_DATA"
UNSUPPORTED = "KVC_ERR_UNSUPPORTED_VERSION"


class FormatError(Exception):
    """A blob the specification rejects; status is the KVC_ERR_* name a reader must give."""

    def __init__(self, status, message):
        super().__init__(f"{status}: {message}")
        self.status = status


def require(condition, message):
    if not condition:
        raise FormatError(CORRUPT, message)


def xxh3(data):
    return xxhash.xxh3_64_intdigest(bytes(data), seed=0)


# ---- A FlatBuffers verifier for the tables of kvc.fbs (the Python runtime has none) -----------
# Field kinds by vtable slot, from kvc.fbs, in declaration order.
SECTION = ["u8", "u8", "u8", "u64", "u64"]
HEADER = ["string", "u32", "u32", "u32", "u32", "u8", "u8", "u8", "u16", "u32", "i32", "u8",
          "string", "u8", "u8", "u32", "u32"]  # 1.1: selection, per_head, threshold, window
CHUNK = ["u32", "u8", "u32", "u32", "u8", "u8", "u16", "u8", "u32", "u8", ("tables", SECTION),
         "u64", "u64", ("structs", 4)]  # 1.1: positions:[uint]
CHUNK_REF_BYTES = 24  # struct ChunkRef: u64, u64, u32, u8 + 3 padding bytes
FOOTER = [("structs", CHUNK_REF_BYTES), "u64", "u64"]
BODIES = {1: HEADER, 2: CHUNK, 3: FOOTER}  # union Body: NONE = 0, Header, Chunk, Footer
SCALAR_BYTES = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "i32": 4}


def _u32(buf, pos):
    require(0 <= pos and pos + 4 <= len(buf), f"offset {pos} outside the message")
    return struct.unpack_from("<I", buf, pos)[0]


def verify_table(buf, pos, fields, depth=0):
    """Checks that the table at pos and everything it references lie inside buf."""
    require(depth < 8, "tables nested too deep")
    require(0 <= pos and pos + 4 <= len(buf), f"table at {pos} outside the message")
    vtable = pos - struct.unpack_from("<i", buf, pos)[0]
    require(0 <= vtable and vtable + 4 <= len(buf), "vtable outside the message")
    vt_bytes, object_bytes = struct.unpack_from("<HH", buf, vtable)
    require(vt_bytes >= 4 and vt_bytes % 2 == 0 and vtable + vt_bytes <= len(buf), "bad vtable")
    require(object_bytes >= 4 and pos + object_bytes <= len(buf), "table outside the message")
    for slot, kind in enumerate(fields):
        if 4 + 2 * slot >= vt_bytes:
            break
        field = struct.unpack_from("<H", buf, vtable + 4 + 2 * slot)[0]
        if field == 0:
            continue
        if isinstance(kind, str) and kind in SCALAR_BYTES:
            require(field + SCALAR_BYTES[kind] <= object_bytes, "scalar outside its table")
            continue
        require(field + 4 <= object_bytes, "offset field outside its table")
        target = pos + field + _u32(buf, pos + field)
        count = _u32(buf, target)
        if kind == "string":
            require(target + 4 + count + 1 <= len(buf) and buf[target + 4 + count] == 0,
                    "string outside the message or not NUL-terminated")
        elif kind[0] == "structs":
            require(target + 4 + count * kind[1] <= len(buf), "vector outside the message")
        elif kind[0] == "tables":
            require(target + 4 + count * 4 <= len(buf), "vector outside the message")
            for i in range(count):
                element = target + 4 + 4 * i
                verify_table(buf, element + _u32(buf, element), kind[1], depth + 1)
        elif kind[0] == "table":
            verify_table(buf, target, kind[1], depth + 1)


def verify_message(buf):
    """Verifies a Message buffer (the bytes after the size prefix); returns its body type."""
    require(len(buf) >= 8 and bytes(buf[4:8]) == IDENTIFIER, "message lacks the KVC1 identifier")
    root = _u32(buf, 0)
    verify_table(buf, root, ["u8"])  # body_type; the body is checked below
    vtable = root - struct.unpack_from("<i", buf, root)[0]
    vt_bytes, object_bytes = struct.unpack_from("<HH", buf, vtable)
    body_type, body_field = 0, 0
    if vt_bytes > 4:
        field = struct.unpack_from("<H", buf, vtable + 4)[0]
        body_type = buf[root + field] if field else 0
    if vt_bytes > 6:
        body_field = struct.unpack_from("<H", buf, vtable + 6)[0]
    require(body_type in BODIES and body_field != 0, f"message body type {body_type} unknown")
    require(body_field + 4 <= object_bytes, "body offset outside its table")
    verify_table(buf, root + body_field + _u32(buf, root + body_field), BODIES[body_type])
    return body_type


# ---- The stream ---------------------------------------------------------------------------
class Blob:
    """The verified messages of a blob: header, chunks (with payloads) and footer."""

    def __init__(self, data):
        fb = self.fb = load_schema()
        data = self.data = memoryview(bytes(data))
        require(len(data) >= 8 and bytes(data[:4]) == MAGIC, "the magic bytes are missing")
        self.format_major, self.format_minor = struct.unpack_from("<HH", data, 4)
        if self.format_major != FORMAT_MAJOR:
            raise FormatError(UNSUPPORTED, f"format major {self.format_major}")
        require(len(data) >= 8 + 24, "truncated")
        footer_offset, footer_checksum = struct.unpack_from("<QQ", data, len(data) - 24)
        require(bytes(data[-8:]) == END_MAGIC, "the end magic is missing")
        end = len(data) - 24
        footer_buf, footer_bytes = self.message_at(footer_offset, end, footer_checksum, "footer")
        require(footer_offset + footer_bytes == end, "the footer does not end at the trailer")
        self.footer = self.body(footer_buf, 3, fb.Footer)
        require(xxh3(data[:footer_offset]) == self.footer.ContentChecksum(),
                "content checksum mismatch")
        header_buf, header_bytes = self.message_at(8, footer_offset,
                                                   self.footer.HeaderChecksum(), "header")
        self.header = h = self.body(header_buf, 1, fb.Header)
        self.check_header(h)
        require(self.footer.ChunksLength() == 2 * h.NumLayers(), "footer indexes the wrong chunks")
        self.chunks = []
        expected_offset = 8 + header_bytes
        for index in range(self.footer.ChunksLength()):
            ref = self.footer.Chunks(index)
            require(ref.Layer() == index // 2 and ref.Tensor() == index % 2,
                    f"chunk {index} indexed out of order")
            require(ref.Offset() == expected_offset, f"chunk {index} is not where it should be")
            buf, size = self.message_at(ref.Offset(), footer_offset, ref.MessageChecksum(),
                                        f"chunk {index}")
            chunk = self.body(buf, 2, fb.Chunk)
            require(chunk.Layer() == ref.Layer() and chunk.Tensor() == ref.Tensor(),
                    f"chunk {index} names another layer or tensor than its footer entry")
            payload_begin = ref.Offset() + size
            require(chunk.PayloadBytes() <= footer_offset - payload_begin,
                    f"chunk {index} payload runs past the footer")
            payload = data[payload_begin:payload_begin + chunk.PayloadBytes()]
            require(xxh3(payload) == chunk.PayloadChecksum(), f"chunk {index} payload checksum")
            positions = self.check_positions(chunk, index)
            if index % 2 == 1:
                key_chunk, key_positions = self.chunks[-1][0], self.chunks[-1][2]
                require(chunk.TokenCount() == key_chunk.TokenCount() and
                        np.array_equal(positions, key_positions),
                        f"layer {index // 2}: keys and values keep different tokens")
            self.chunks.append((chunk, payload, positions))
            expected_offset = payload_begin + chunk.PayloadBytes()
        require(expected_offset == footer_offset, "bytes between the last chunk and the footer")

    def check_positions(self, chunk, index):
        """[rows][token_count] source positions of the chunk's tokens (one row per KV head when
        the header says per_head and the chunk lists positions, else one row)."""
        h = self.header
        count = chunk.TokenCount()
        require(count >= 1, f"chunk {index} holds no tokens")
        if chunk.PositionsIsNone() or chunk.PositionsLength() == 0:
            require(chunk.TokenBegin() + count <= h.NumTokens(), f"chunk {index} token range")
            return np.arange(chunk.TokenBegin(), chunk.TokenBegin() + count,
                             dtype=np.int64)[None, :]
        rows = h.NumKvHeads() if h.PerHead() else 1
        positions = chunk.PositionsAsNumpy().astype(np.int64)
        require(positions.size == rows * count, f"chunk {index}: {positions.size} positions")
        positions = positions.reshape(rows, count)
        require(bool(np.all(np.diff(positions, axis=1) > 0)) and positions.min() >= 0 and
                positions.max() < h.NumTokens(), f"chunk {index}: positions not ascending or "
                "out of range")
        return positions

    def message_at(self, offset, limit, checksum, what):
        """(message bytes after the size prefix, total bytes) of the message at offset."""
        require(8 <= offset and offset + 4 <= limit, f"{what} message outside the blob")
        n = struct.unpack_from("<I", self.data, offset)[0]
        require(n <= MAX_MESSAGE_BYTES and n <= limit - offset - 4, f"{what} message too long")
        require(xxh3(self.data[offset:offset + 4 + n]) == checksum, f"{what} checksum mismatch")
        buf = bytes(self.data[offset + 4:offset + 4 + n])
        return buf, 4 + n

    def body(self, buf, body_type, cls):
        require(verify_message(buf) == body_type, "unexpected message body")
        message = self.fb.Message.GetRootAs(buf, 0)
        table = message.Body()
        body = cls()
        body.Init(table.Bytes, table.Pos)
        return body

    def check_header(self, h):
        layers, heads, tokens, dim = h.NumLayers(), h.NumKvHeads(), h.NumTokens(), h.HeadDim()
        require(1 <= layers <= 4096 and 1 <= heads <= 4096, "layers or heads out of range")
        require(1 <= dim <= 65536 and tokens >= 1, "head_dim or tokens out of range")
        require(heads * tokens * dim <= 1 << 40, "tensor too large")
        require(h.Dtype() in DTYPES, f"dtype {h.Dtype()} unknown")
        for bits in (h.KeyBits(), h.ValueBits()):
            require(bits in (2, 3, 4, 8, 16), f"bits {bits}")
        require(h.GroupSize() in (32, 64, 128), f"group_size {h.GroupSize()}")


# ---- Decoding -----------------------------------------------------------------------------
def section_bytes(section, stored):
    """The raw bytes of one section: Zstandard frame decoded, byte planes put back."""
    if section.Encoding() == 0:
        require(section.StoredBytes() == section.RawBytes(), "stored section of the wrong size")
        raw = bytes(stored)
    else:
        require(section.Encoding() == 1, f"encoding {section.Encoding()} unknown")
        try:
            raw = zstandard.ZstdDecompressor().decompress(bytes(stored),
                                                          max_output_size=section.RawBytes())
        except zstandard.ZstdError as e:
            raise FormatError(CORRUPT, f"zstd: {e}")
        require(len(raw) == section.RawBytes(), "zstd section of the wrong size")
    width = section.ShuffleWidth()
    if width in (2, 4):
        require(len(raw) % width == 0, "shuffled section not a multiple of its width")
        raw = np.frombuffer(raw, np.uint8).reshape(width, -1).T.tobytes()
    else:
        require(width == 0, f"shuffle_width {width}")
    return raw


def to_f32(raw, dtype):
    """float32 array of elements stored in dtype (exact)."""
    if dtype == "f32":
        return np.frombuffer(raw, "<f4").astype(np.float32)
    if dtype == "f16":
        return np.frombuffer(raw, "<f2").astype(np.float32)
    bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
    return bits.view(np.float32)


def from_f32(x, dtype):
    """Bytes of float32 values x rounded to dtype (round to nearest even)."""
    x = np.ascontiguousarray(x, np.float32)
    if dtype == "f32":
        return x.astype("<f4").tobytes()
    if dtype == "f16":
        return x.astype("<f2").tobytes()
    u = x.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(x)
    rounded[nan] = ((u[nan] >> 16) | 0x40).astype(np.uint16)  # quiet NaN, sign kept
    return rounded.astype("<u2").tobytes()


def convert(raw, src, dst):
    """Elements in src dtype as bytes of dst dtype (bits kept when they are the same)."""
    return raw if src == dst else from_f32(to_f32(raw, src), dst)


def unpack_codes(raw, count, bits):
    stream = np.unpackbits(np.frombuffer(raw, np.uint8), bitorder="little")
    require(stream.size >= count * bits, "codes section too short")
    planes = stream[:count * bits].reshape(count, bits).astype(np.uint32)
    return (planes << np.arange(bits, dtype=np.uint32)).sum(axis=1, dtype=np.uint32)


def decode_chunk(blob, chunk, payload, tensor, out_dtype):
    """The chunk's [heads][token_count][head_dim] elements as bytes of out_dtype."""
    h = blob.header
    heads, tokens, dim = h.NumKvHeads(), chunk.TokenCount(), h.HeadDim()
    dtype = DTYPES[h.Dtype()]
    bits = h.KeyBits() if tensor == 0 else h.ValueBits()
    require(chunk.Bits() == bits, "chunk bits differ from the header")
    sections, offset = [], 0
    for i in range(chunk.SectionsLength()):
        s = chunk.Sections(i)
        require(s.StoredBytes() <= len(payload) - offset, "section runs past the payload")
        sections.append((s.Kind(), section_bytes(s, payload[offset:offset + s.StoredBytes()])))
        offset += s.StoredBytes()
    require(offset == len(payload), "payload longer than its sections")
    kinds = [k for k, _ in sections]
    element = ELEMENT_BYTES[dtype]
    if chunk.Codec() == 0:
        require(bits == 16 and kinds == [0], "Raw chunk must be bits 16 with one RawElements")
        raw = sections[0][1]
        require(len(raw) == heads * tokens * dim * element, "RawElements of the wrong size")
        return convert(raw, dtype, out_dtype)
    require(chunk.Codec() == 1, f"codec {chunk.Codec()} unknown")
    require(bits in (2, 3, 4, 8) and kinds == [1, 2, 3, 4], "Groupwise chunk sections")
    recent = min(h.RecentTokens(), tokens)
    q_tokens = tokens - recent
    require(chunk.QuantizedTokens() == q_tokens, "quantized_tokens")
    axis = chunk.GroupAxis()
    require(axis == tensor, "keys group along tokens, values along channels")
    group = chunk.GroupSize()
    require(group == (h.GroupSize() if tensor == 0 else min(h.GroupSize(), dim)), "group_size")
    side = {0: "f16", 1: "f32"}.get(chunk.SideDtype())
    require(side is not None, f"side_dtype {chunk.SideDtype()} unknown")
    codes_raw, scales_raw, zeros_raw, recent_raw = (raw for _, raw in sections)
    count = heads * q_tokens * dim
    require(len(codes_raw) == (count * bits + 7) // 8, "Codes of the wrong size")
    if tensor == 0:
        groups = heads * -(-q_tokens // group) * dim if q_tokens else 0
    else:
        groups = heads * q_tokens * -(-dim // group)
    require(len(scales_raw) == len(zeros_raw) == groups * ELEMENT_BYTES[side], "side data size")
    require(len(recent_raw) == heads * recent * dim * element, "RecentElements of the wrong size")
    out = np.zeros((heads, tokens, dim), np.float32)
    if q_tokens:
        q = unpack_codes(codes_raw, count, bits).reshape(heads, q_tokens, dim)
        scales, zeros = to_f32(scales_raw, side), to_f32(zeros_raw, side)
        head = np.arange(heads)[:, None, None]
        token = np.arange(q_tokens)[None, :, None]
        channel = np.arange(dim)[None, None, :]
        if tensor == 0:
            index = (head * -(-q_tokens // group) + token // group) * dim + channel
        else:
            index = (head * q_tokens + token) * -(-dim // group) + channel // group
        s, z = scales[index], zeros[index]
        out[:, :q_tokens, :] = z + (q.astype(np.float32) * s)  # a rounded multiply, then add
    quantized = from_f32(out[:, :q_tokens, :], out_dtype)
    kept = convert(recent_raw, dtype, out_dtype)
    size = ELEMENT_BYTES[out_dtype]
    rows = []
    for head in range(heads):  # [head][token][dim]: quantized tokens, then the recent ones
        rows.append(quantized[head * q_tokens * dim * size:(head + 1) * q_tokens * dim * size])
        rows.append(kept[head * recent * dim * size:(head + 1) * recent * dim * size])
    return b"".join(rows)


def scatter_layer(tensor, positions, heads, tokens, dim, size):
    """[heads][kept][dim] bytes spread to [heads][tokens][dim], zero bytes where evicted."""
    kept = np.frombuffer(tensor, np.uint8).reshape(heads, -1, dim * size)
    out = np.zeros((heads, tokens, dim * size), np.uint8)
    for head in range(heads):
        out[head, positions[head if positions.shape[0] > 1 else 0]] = kept[head]
    return out.tobytes()


def decode(data, dtype=None, first_layer=0, num_layers=0, scatter=False):
    """(keys, values) bytes of the selected layers, packed, in dtype (None: as stored): each
    layer [heads][kept][head_dim], or with scatter [heads][num_tokens][head_dim]."""
    blob = Blob(data)
    h = blob.header
    out_dtype = dtype or DTYPES[h.Dtype()]
    last = h.NumLayers() if num_layers == 0 else first_layer + num_layers
    if first_layer >= h.NumLayers() or last > h.NumLayers():
        raise ValueError(f"layers [{first_layer}, {last}) outside {h.NumLayers()}")
    keys, values = [], []
    for layer in range(h.NumLayers()):  # every chunk is decoded: a strict reader
        for tensor, out in ((0, keys), (1, values)):
            chunk, payload, positions = blob.chunks[2 * layer + tensor]
            decoded = decode_chunk(blob, chunk, payload, tensor, out_dtype)
            if scatter:
                decoded = scatter_layer(decoded, positions, h.NumKvHeads(), h.NumTokens(),
                                        h.HeadDim(), ELEMENT_BYTES[out_dtype])
            if first_layer <= layer < last:
                out.append(decoded)
    return b"".join(keys), b"".join(values)


def kept_positions(data, first_layer=0, num_layers=0):
    """(tokens kept per layer, [layer][kv_head][kept] positions) of the selected layers, as
    kvc_decompress_positions gives them (the same row repeated for every head)."""
    blob = Blob(data)
    h = blob.header
    last = h.NumLayers() if num_layers == 0 else first_layer + num_layers
    counts, positions = [], []
    for layer in range(first_layer, last):
        rows = blob.chunks[2 * layer][2]
        counts.append(rows.shape[1])
        for head in range(h.NumKvHeads()):
            positions.extend(rows[head if rows.shape[0] > 1 else 0].tolist())
    return counts, positions


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blob")
    parser.add_argument("--dtype", choices=sorted(ELEMENT_BYTES))
    parser.add_argument("--first-layer", type=int, default=0)
    parser.add_argument("--num-layers", type=int, default=0)
    parser.add_argument("--scatter", action="store_true")
    args = parser.parse_args()
    with open(args.blob, "rb") as f:
        data = f.read()
    try:
        keys, values = decode(data, args.dtype, args.first_layer, args.num_layers,
                             args.scatter)
    except FormatError as e:
        print(e)
        return 1
    for name, tensor in (("keys", keys), ("values", values)):
        print(name, len(tensor), hashlib.sha256(tensor).hexdigest())
    return 0


if __name__ == "__main__":
    sys.exit(main())
