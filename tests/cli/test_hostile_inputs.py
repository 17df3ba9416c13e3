# test_hostile_inputs.py: the kvc tool against the inputs a hostile user tried on 0.1: query files
# of fewer layers than the cache, layer ranges past the blob, thresholds out of range.
import json
import os
import struct
import subprocess
from pathlib import Path

import pytest

from safetensors_files import read_safetensors

KVC = os.environ.get("KVC_CLI", "")
DATA_DIR = Path(os.environ.get("KVC_TEST_DATA_DIR", ""))
STORIES = DATA_DIR / "stories260K.safetensors"
STORIES_QUERIES = DATA_DIR / "stories260K.queries.safetensors"

pytestmark = pytest.mark.skipif(
    not KVC or not Path(KVC).is_file(),
    reason=f"KVC_CLI={KVC!r} is not the kvc binary (run via ctest)")


def need(path):
    if not path.is_file():
        pytest.skip(f"{path} not found: run scripts/build.sh (it writes build/data)")
    return path


def kvc(*args):
    return subprocess.run([KVC, *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=120)


def write_tensors(path, tensors):
    """A safetensors file of {name: (dtype, shape, raw bytes)}."""
    header, offset, data = {}, 0, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        data += raw
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


@pytest.fixture(scope="module")
def stories(tmp_path_factory):
    """The stories260K cache, its 4-bit blob, its layer count and a one-layer query file."""
    d = tmp_path_factory.mktemp("hostile")
    blob = d / "stories.kvc"
    r = kvc("compress", need(STORIES), "-o", blob, "--json")
    assert r.returncode == 0, r.stderr
    layers = json.loads(r.stdout)["shape"]["num_layers"]
    assert layers > 1
    queries = read_safetensors(need(STORIES_QUERIES))
    one_layer = write_tensors(d / "one_layer.queries.safetensors",
                              {"layer_0_query": queries["layer_0_query"]})
    return blob, layers, one_layer


# 0.1: `kvc validate --queries` read past a query file of fewer layers: exit 0 "passed" where the
# right file gave exit 3, or SIGSEGV.
def test_validate_refuses_queries_of_fewer_layers_than_the_cache(stories):
    blob, layers, one_layer = stories
    right = kvc("validate", STORIES, blob, "--queries", need(STORIES_QUERIES))
    assert right.returncode in (0, 3), right.stderr
    r = kvc("validate", STORIES, blob, "--queries", one_layer)
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "KVC_ERR_INVALID_ARGUMENT" in r.stderr and "queries_size" in r.stderr
    assert f"for {layers} layers" in r.stderr
    assert "passed" not in r.stdout


def test_compress_refuses_queries_of_fewer_layers_than_the_cache(stories, tmp_path):
    _, layers, one_layer = stories
    r = kvc("compress", STORIES, "-o", tmp_path / "q.kvc", "--queries", one_layer,
            "--select", "attention")
    assert r.returncode == 1, r.stderr
    assert f"holds queries of 1 layers; the cache has {layers}" in r.stderr
    assert not (tmp_path / "q.kvc").exists()


# 0.1: `kvc decompress --layers 6` of a 5-layer blob underflowed into a 16 GiB allocation.
@pytest.mark.parametrize("extra", [(1, ""), (0, ":2"), (10, ":1")])
def test_decompress_refuses_layers_past_the_blob(stories, tmp_path, extra):
    blob, layers, _ = stories
    past, count = extra
    spec = f"{layers - 1 + past if count else layers + past}{count}"
    r = kvc("decompress", blob, "-o", tmp_path / "out.safetensors", "--layers", spec)
    assert r.returncode == 1, (spec, r.stderr)
    assert "KVC_ERR_INVALID_ARGUMENT" in r.stderr and "outside the blob's" in r.stderr, r.stderr
    assert "OUT_OF_MEMORY" not in r.stderr
    assert not (tmp_path / "out.safetensors").exists()


# 0.1: `--min-cosine 2` was refused only after the whole compression had run.
@pytest.mark.parametrize("command", ["compress", "validate"])
def test_min_cosine_out_of_range_is_a_usage_error_before_any_work(stories, tmp_path, command):
    blob, _, _ = stories
    args = ["-o", tmp_path / "c.kvc"] if command == "compress" else [blob]
    r = kvc(command, STORIES, *args, "--min-cosine", "2")
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "--min-cosine" in r.stderr and "not in range" in r.stderr
    assert r.stdout == ""
    assert not (tmp_path / "c.kvc").exists()
