# test_independent_reader.py: the independent reader (tools/independent_reader.py, written from
# schema/ alone) decodes every valid vector to the manifest's bytes and rejects every invalid one.
import hashlib
import json
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import independent_reader  # noqa: E402

MANIFEST = json.loads((ROOT / "manifest.json").read_text())
DTYPES = {"as_stored": None, "f32": "f32", "f16": "f16", "bf16": "bf16"}


def test_the_manifest_lists_vectors_of_every_kind():
    assert len(MANIFEST["valid"]) >= 10 and len(MANIFEST["invalid"]) >= 10
    assert any("layer_counts" in d for v in MANIFEST["valid"] for d in v["decodes"])
    assert {v["info"]["dtype"] for v in MANIFEST["valid"]} == {0, 1, 2}
    assert {"KVC_ERR_CORRUPT_DATA", "KVC_ERR_UNSUPPORTED_VERSION"} <= {
        v["status"] for v in MANIFEST["invalid"]}


@pytest.mark.parametrize("vector", MANIFEST["valid"], ids=lambda v: v["name"])
def test_valid_vector_decodes_to_the_manifest_bytes(vector):
    blob = (ROOT / vector["file"]).read_bytes()
    assert len(blob) == vector["size"] and hashlib.sha256(blob).hexdigest() == vector["sha256"]
    header = independent_reader.Blob(blob).header
    info = vector["info"]
    assert (header.NumLayers(), header.NumKvHeads(), header.NumTokens(), header.HeadDim(),
            header.Dtype(), header.KeyBits(), header.ValueBits(), header.GroupSize()) == (
        info["num_layers"], info["num_kv_heads"], info["num_tokens"], info["head_dim"],
        info["dtype"], info["key_bits"], info["value_bits"], info["group_size"])
    for d in vector["decodes"]:
        keys, values = independent_reader.decode(blob, DTYPES[d["dtype"]], d["first_layer"],
                                                 d["num_layers"], d["scatter"])
        where = f"{vector['name']} decode {d}"
        if "layer_counts" in d:
            counts, positions = independent_reader.kept_positions(blob, d["first_layer"],
                                                                  d["num_layers"])
            assert (counts, positions) == (d["layer_counts"], d["positions"]), where
            mask = bytearray(len(counts) * info["num_kv_heads"] * info["num_tokens"])
            start = 0
            for layer, count in enumerate(counts):
                for head in range(info["num_kv_heads"]):
                    row = (layer * info["num_kv_heads"] + head) * info["num_tokens"]
                    for position in positions[start:start + count]:
                        mask[row + position] = 1
                    start += count
            assert hashlib.sha256(mask).hexdigest() == d["mask_sha256"], where + ": mask"
        assert len(keys) == len(values) == d["tensor_bytes"], where
        assert hashlib.sha256(keys).hexdigest() == d["keys_sha256"], where + ": keys"
        assert hashlib.sha256(values).hexdigest() == d["values_sha256"], where + ": values"


@pytest.mark.parametrize("vector", MANIFEST["invalid"], ids=lambda v: v["name"])
def test_invalid_vector_is_rejected_with_its_status(vector):
    blob = (ROOT / vector["file"]).read_bytes()
    with pytest.raises(independent_reader.FormatError) as e:
        independent_reader.decode(blob)
    assert e.value.status == vector["status"], str(e.value)
