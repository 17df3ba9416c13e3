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
DTYPES = {"as_stored": None, "f32": "float32", "f16": "float16", "bf16": "bfloat16"}


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
            assert getattr(info, field) == value, field
        for d in vector["decodes"]:
            keys, values = ctx.decompress(blob, DTYPES[d["dtype"]], d["first_layer"],
                                          d["num_layers"])
            kb, vb = keys.tobytes(), values.tobytes()
            assert len(kb) == len(vb) == d["tensor_bytes"], d
            assert (sha256(kb), sha256(vb)) == (d["keys_sha256"], d["values_sha256"]), d


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
