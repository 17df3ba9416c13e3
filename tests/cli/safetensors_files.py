# safetensors_files.py: safetensors files for the kvc tool's tests: random caches written, and
# tensors read back.
import json
import random
import struct


def write_cache(path, layers, heads, tokens, head_dim, seed=1):
    """A float16 safetensors KV cache of random bit patterns (fine for lossless coding)."""
    rng = random.Random(seed)
    size = heads * tokens * head_dim * 2
    header, offset = {}, 0
    for layer in range(layers):
        for kind in ("key", "value"):
            header[f"layer_{layer}_{kind}"] = {"dtype": "F16", "shape": [heads, tokens, head_dim],
                                               "data_offsets": [offset, offset + size]}
            offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text)
        chunk = rng.randbytes(size)
        for _ in range(2 * layers):
            f.write(chunk)
    return path


def read_safetensors(path):
    """{name: (dtype, shape, raw bytes)} of a safetensors file."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack_from("<Q", blob, 0)
    header = json.loads(blob[8:8 + header_len])
    header.pop("__metadata__", None)
    data = blob[8 + header_len:]
    return {name: (t["dtype"], tuple(t["shape"]), data[t["data_offsets"][0]:t["data_offsets"][1]])
            for name, t in header.items()}
