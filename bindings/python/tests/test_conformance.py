# test_conformance.py: the Python binding replays conformance/manifest.json: every valid vector
# decodes to the manifest's bytes, every invalid one fails verify and decompress with its status.
import ctypes
import hashlib
import json

import pytest

import kvc
from kvc import _ffi

from conftest import REPO_ROOT

CONFORMANCE = REPO_ROOT / "conformance"
MANIFEST = CONFORMANCE / "manifest.json"
needs_manifest = pytest.mark.skipif(not MANIFEST.is_file(),
                                    reason=f"{MANIFEST} not found (no source tree)")
VECTORS = json.loads(MANIFEST.read_text()) if MANIFEST.is_file() else {"valid": [], "invalid": []}


def sha256(data):
    return hashlib.sha256(data).hexdigest()


@needs_manifest
@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_valid_vector_decodes_to_the_manifest_bytes(vector):
    blob = (CONFORMANCE / vector["file"]).read_bytes()
    assert sha256(blob) == vector["sha256"]
    with kvc.Context() as ctx:
        ctx.verify(blob)
        info = ctx.inspect(blob)
        for field, value in vector["info"].items():
            # The manifest names fields as the format does; one has a longer name in the API.
            name = "recent_full_precision_tokens" if field == "recent_tokens" else field
            assert getattr(info, name) == value, field
        for d in vector["decodes"]:
            p = _ffi.kvc_decompress_params()
            _ffi.kvc_decompress_params_default(ctypes.byref(p), ctypes.sizeof(p))
            p.dtype, p.first_layer = d["dtype_code"], d["first_layer"]
            p.num_layers, p.scatter = d["num_layers"], d["scatter"]
            size = d["tensor_bytes"]
            keys, values = ctypes.create_string_buffer(size), ctypes.create_string_buffer(size)
            n = ctypes.c_size_t()
            assert _ffi.kvc_decompress(ctx._ptr, ctypes.byref(p), blob, len(blob), keys, values,
                                       size, ctypes.byref(n)) == _ffi.KVC_OK, d
            assert n.value == size, d
            assert (sha256(keys.raw), sha256(values.raw)) == (d["keys_sha256"],
                                                              d["values_sha256"]), d
            if "layer_counts" in d:
                check_positions_and_mask(ctx, blob, p, d)


def check_positions_and_mask(ctx, blob, p, d):
    counts = (ctypes.c_uint32 * len(d["layer_counts"]))()
    positions = (ctypes.c_uint32 * len(d["positions"]))()
    n = ctypes.c_size_t()
    assert _ffi.kvc_decompress_positions(ctx._ptr, ctypes.byref(p), blob, len(blob), counts,
                                         len(counts), positions, len(positions),
                                         ctypes.byref(n)) == 0
    assert (list(counts), list(positions)[:n.value]) == (d["layer_counts"], d["positions"]), d
    need = ctypes.c_size_t()
    assert _ffi.kvc_decompress_mask(ctx._ptr, ctypes.byref(p), blob, len(blob), None, 0,
                                    ctypes.byref(need)) == _ffi.KVC_ERR_BUFFER_TOO_SMALL
    mask = ctypes.create_string_buffer(need.value)
    assert _ffi.kvc_decompress_mask(ctx._ptr, ctypes.byref(p), blob, len(blob), mask,
                                    need.value, ctypes.byref(n)) == 0
    assert sha256(mask.raw[:n.value]) == d["mask_sha256"], d


@needs_manifest
@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
def test_invalid_vector_fails_with_its_status(vector):
    blob = (CONFORMANCE / vector["file"]).read_bytes()
    with kvc.Context() as ctx:
        with pytest.raises(kvc.KvcError) as e:
            ctx.verify(blob)
        assert e.value.status_name == vector["status"] and e.value.message
        # Into 1 MiB buffers: the status itself, never a request for a larger buffer first.
        capacity, n = 1 << 20, ctypes.c_size_t()
        keys, values = ctypes.create_string_buffer(capacity), ctypes.create_string_buffer(capacity)
        status = _ffi.kvc_decompress(ctx._ptr, None, blob, len(blob), keys, values, capacity,
                                     ctypes.byref(n))
        assert status == vector["status_code"]
