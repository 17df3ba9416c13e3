# test_cli.py: the `kvc` tool end to end on real KV caches: round trips, exit codes, corruption.
import json
import os
import pty
import random
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from safetensors_files import read_safetensors

KVC = os.environ.get("KVC_CLI", "")
DATA_DIR = Path(os.environ.get("KVC_TEST_DATA_DIR", ""))
STORIES = DATA_DIR / "stories260K.safetensors"
SMOL = DATA_DIR / "smollm2-135m.safetensors"
STORIES_GGUF = Path(__file__).resolve().parents[3] / "shared" / "data" / "stories260K.gguf"

pytestmark = pytest.mark.skipif(
    not KVC or not Path(KVC).is_file(),
    reason=f"KVC_CLI={KVC!r} is not the kvc binary (run via ctest)")


def need(path):
    if not path.is_file():
        pytest.skip(f"{path} not found: set KVC_TEST_DATA_DIR to a directory made by "
                    "scripts/kvcache/make_example_caches.py --out DIR --model all")
    return path


def kvc(*args, timeout=120):
    """Runs the tool; stdin closed, stdout and stderr captured as text."""
    return subprocess.run([KVC, *map(str, args)], stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def kvc_json(*args):
    """Runs the tool with --json; it must succeed. Returns the parsed report."""
    r = kvc(*args, "--json")
    assert r.returncode == 0, f"exit {r.returncode}, stderr: {r.stderr}"
    return json.loads(r.stdout)


def _write(path, data):
    path.write_bytes(data)
    return path


def leftovers(directory):
    return sorted(p.name for p in Path(directory).iterdir() if ".tmp." in p.name)


@pytest.fixture(scope="module")
def stories_blob(tmp_path_factory):
    """A 4-bit blob of the stories260K cache and its compress report."""
    out = tmp_path_factory.mktemp("stories") / "stories.kvc"
    report = kvc_json("compress", need(STORIES), "-o", out)
    return out, report


@pytest.fixture(scope="module")
def small_blob(tmp_path_factory):
    """A blob of the first layer of stories260K (2 chunks): small enough to sweep through."""
    d = tmp_path_factory.mktemp("small")
    kvc_json("compress", need(STORIES), "-o", d / "full.kvc")
    kvc_json("decompress", d / "full.kvc", "-o", d / "layer0.safetensors", "--layers", "0:1")
    kvc_json("compress", d / "layer0.safetensors", "-o", d / "small.kvc", "--group-size", "32")
    return (d / "small.kvc").read_bytes()


# ---- Round trips ------------------------------------------------------------------------------


def test_version_prints_the_library_version():
    r = kvc("--version")
    assert r.returncode == 0
    assert re.fullmatch(r"kvc \d+\.\d+\.\d+\n", r.stdout)


def test_compress_reports_the_seed_metrics_and_more(stories_blob):
    out, r = stories_blob
    for key in ("compression_ratio", "original_size_bytes", "compressed_size_bytes", "rmse",
                "snr_db", "cosine_similarity", "max_error", "quality_level", "processing_time_ms",
                "passed", "violations", "bits_per_element", "bandwidth_savings_percent", "keys",
                "values", "params", "shape"):
        assert key in r, key
    assert r["shape"] == {"num_layers": 5, "num_kv_heads": 4, "num_tokens": 512, "head_dim": 8,
                          "dtype": "float16"}
    assert r["params"]["key_bits"] == 4 and r["params"]["value_bits"] == 4
    assert r["original_size_bytes"] == 2 * 5 * 4 * 512 * 8 * 2
    assert r["compressed_size_bytes"] == out.stat().st_size
    ratio = r["original_size_bytes"] / r["compressed_size_bytes"]
    assert r["compression_ratio"] == pytest.approx(ratio)
    assert r["quality_level"] in ("EXCELLENT", "GOOD", "ACCEPTABLE", "POOR")
    assert r["passed"] is True and r["violations"] == []
    for tensor in ("keys", "values"):
        assert set(r[tensor]) == {"rmse", "snr_db", "cosine", "max_error"}
        assert 0.99 <= r[tensor]["cosine"] <= 1.0
    assert r["output_written"] is True and leftovers(out.parent) == []


def test_inspect_and_verify_describe_the_blob_compress_wrote(stories_blob):
    out, c = stories_blob
    i = kvc_json("inspect", out)
    assert i["shape"] == c["shape"] and i["params"] == c["params"]
    assert i["format_version"] == f'{i["format_major"]}.{i["format_minor"]}'
    assert i["producer"].startswith("kvc ")
    assert i["num_chunks"] == 2 * c["shape"]["num_layers"]
    assert i["compressed_size_bytes"] == c["compressed_size_bytes"]
    assert i["original_size_bytes"] == c["original_size_bytes"]
    assert i["compression_ratio"] == pytest.approx(c["compression_ratio"])
    v = kvc_json("verify", out)
    assert v["ok"] is True and v["compressed_size_bytes"] == out.stat().st_size
    text = kvc("verify", out)
    assert text.returncode == 0 and "ok" in text.stdout and text.stderr == ""


def test_lossless_round_trip_gives_byte_identical_tensors(tmp_path):
    src = need(STORIES)
    c = kvc_json("compress", src, "-o", tmp_path / "l.kvc", "--bits", "16")
    assert c["params"]["key_bits"] == 16 and c["params"]["value_bits"] == 16
    assert c["rmse"] == 0 and c["max_error"] == 0 and c["quality_level"] == "EXCELLENT"
    d = kvc_json("decompress", tmp_path / "l.kvc", "-o", tmp_path / "l.safetensors")
    assert d["shape"] == c["shape"]
    original, restored = read_safetensors(src), read_safetensors(tmp_path / "l.safetensors")
    assert sorted(original) == sorted(restored)
    for name, (dtype, shape, data) in original.items():
        assert restored[name][0] == dtype
        assert restored[name][1][-3:] == shape[-3:]
        assert restored[name][2] == data, f"{name} differs after a lossless round trip"
    assert (tmp_path / "l.metadata.json").is_file()


def test_lossy_round_trip_is_not_byte_identical(tmp_path, stories_blob):
    # The comparison above can fail: 4-bit data does not survive it.
    kvc_json("decompress", stories_blob[0], "-o", tmp_path / "q.safetensors")
    original = read_safetensors(need(STORIES))
    restored = read_safetensors(tmp_path / "q.safetensors")
    assert any(restored[n][2] != original[n][2] for n in original)


def test_decompress_of_a_layer_range_matches_those_layers_of_the_whole(tmp_path, stories_blob):
    blob = stories_blob[0]
    kvc_json("decompress", blob, "-o", tmp_path / "all.safetensors")
    d = kvc_json("decompress", blob, "-o", tmp_path / "part.safetensors", "--layers", "2:2")
    assert d["shape"]["num_layers"] == 2 and d["layers"] == {"first": 2, "count": 2}
    tail = kvc_json("decompress", blob, "-o", tmp_path / "tail.safetensors", "--layers", "3")
    assert tail["layers"] == {"first": 3, "count": 2}
    full = read_safetensors(tmp_path / "all.safetensors")
    for name, first in (("part", 2), ("tail", 3)):
        part = read_safetensors(tmp_path / f"{name}.safetensors")
        assert sorted(part) == ["layer_0_key", "layer_0_value", "layer_1_key", "layer_1_value"]
        for i in range(2):
            for kind in ("key", "value"):
                assert part[f"layer_{i}_{kind}"] == full[f"layer_{i + first}_{kind}"]
    r = kvc("decompress", blob, "-o", tmp_path / "none.safetensors", "--layers", "4:2")
    assert r.returncode == 1 and "KVC_ERR_INVALID_ARGUMENT" in r.stderr
    assert not (tmp_path / "none.safetensors").exists()


def test_decompress_converts_a_lossless_blob_to_float32_exactly(tmp_path):
    np = pytest.importorskip("numpy")
    src = need(STORIES)
    kvc_json("compress", src, "-o", tmp_path / "l.kvc", "--bits", "16")
    d = kvc_json("decompress", tmp_path / "l.kvc", "-o", tmp_path / "f.safetensors",
                 "--dtype", "float32")
    assert d["shape"]["dtype"] == "float32" and d["stored_dtype"] == "float16"
    original, wide = read_safetensors(src), read_safetensors(tmp_path / "f.safetensors")
    for name, (dtype, _, data) in original.items():
        assert dtype == "F16" and wide[name][0] == "F32"
        np.testing.assert_array_equal(np.frombuffer(wide[name][2], np.float32),
                                      np.frombuffer(data, np.float16).astype(np.float32))
    b = kvc_json("decompress", tmp_path / "l.kvc", "-o", tmp_path / "b.safetensors",
                 "--dtype", "bfloat16")
    assert b["shape"]["dtype"] == "bfloat16"
    assert {t[0] for t in read_safetensors(tmp_path / "b.safetensors").values()} == {"BF16"}


def test_smollm2_meets_the_quality_and_ratio_targets(tmp_path):
    src = need(SMOL)
    r4 = kvc_json("compress", src, "-o", tmp_path / "4.kvc", "--bits", "4", "--group-size", "128")
    assert r4["compression_ratio"] >= 3.7
    assert r4["keys"]["cosine"] >= 0.99 and r4["values"]["cosine"] >= 0.99
    r8 = kvc_json("compress", src, "-o", tmp_path / "8.kvc", "--bits", "8")
    assert r8["keys"]["cosine"] >= 0.9999 and r8["values"]["cosine"] >= 0.9999
    assert kvc("verify", tmp_path / "4.kvc").returncode == 0


def test_smollm2_lossless_round_trip_is_byte_identical(tmp_path):
    src = need(SMOL)
    kvc_json("compress", src, "-o", tmp_path / "l.kvc", "--bits", "16", "--zstd-level", "3")
    kvc_json("decompress", tmp_path / "l.kvc", "-o", tmp_path / "l.safetensors")
    original, restored = read_safetensors(src), read_safetensors(tmp_path / "l.safetensors")
    assert {n: t[2] for n, t in original.items()} == {n: t[2] for n, t in restored.items()}


def test_failed_thresholds_are_data_unless_a_pass_is_required(tmp_path):
    src = need(STORIES)
    r = kvc_json("compress", src, "-o", tmp_path / "a.kvc", "--bits", "2")
    assert r["passed"] is False and r["quality_level"] in ("ACCEPTABLE", "POOR")
    violations = r["violations"]
    assert any(re.fullmatch(r"value cosine [0-9.]+ < 0\.99", v) for v in violations), violations
    assert (tmp_path / "a.kvc").is_file()
    strict = kvc("compress", src, "-o", tmp_path / "b.kvc", "--bits", "2", "--require-pass",
                 "--json")
    assert strict.returncode == 3
    assert json.loads(strict.stdout)["output_written"] is False
    assert "QUALITY_FAILED" in strict.stderr
    assert not (tmp_path / "b.kvc").exists() and leftovers(tmp_path) == []
    tight = kvc_json("compress", src, "-o", tmp_path / "c.kvc", "--min-cosine", "0.99999",
                     "--min-snr-db", "60")
    assert tight["passed"] is False
    assert tight["thresholds"] == {"min_cosine": 0.99999, "min_snr_db": 60}
    assert any("SNR" in v and "< 60 dB" in v for v in tight["violations"])


def test_no_verify_reports_sizes_without_quality(tmp_path):
    r = kvc_json("compress", need(STORIES), "-o", tmp_path / "n.kvc", "--no-verify")
    assert r["verified"] is False and r["passed"] is None and r["cosine_similarity"] is None
    assert r["compressed_size_bytes"] == (tmp_path / "n.kvc").stat().st_size


def test_key_and_value_bits_override_bits(tmp_path):
    r = kvc_json("compress", need(STORIES), "-o", tmp_path / "m.kvc", "--bits", "8", "--value-bits",
                 "2", "--shuffle", "off", "--zstd-level", "5", "--recent-full-precision-tokens",
                 "16")
    assert r["params"] == {"key_bits": 8, "value_bits": 2, "group_size": 64,
                           "recent_full_precision_tokens": 16, "zstd_level": 5, "shuffle": "off"}
    assert kvc_json("inspect", tmp_path / "m.kvc")["params"] == r["params"]
    # The 0.1 spelling of the flag stays an alias.
    old = kvc_json("compress", need(STORIES), "-o", tmp_path / "o.kvc", "--recent-tokens", "16")
    assert old["params"]["recent_full_precision_tokens"] == 16


# ---- Exit codes and errors ----------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ["compress", "in.safetensors", "-o", "out.kvc", "--frobnicate"],
    ["compress", "in.safetensors"],
    ["compress", "in.safetensors", "-o", "out.kvc", "--bits", "four"],
    ["compress", "in.safetensors", "-o", "out.kvc", "--shuffle", "sometimes"],
    ["compress", "in.safetensors", "-o", "out.kvc", "--no-verify", "--require-pass"],
    ["decompress", "in.kvc", "-o", "out.safetensors", "--dtype", "float64"],
    ["decompress", "in.kvc", "-o", "out.safetensors", "--layers", "1:0"],
    ["decompress", "in.kvc", "-o", "out.safetensors", "--layers", "x"],
    ["inspect"],
    ["verify", "a.kvc", "b.kvc"],
    ["models", "extra"],
    ["adapter"],
    ["adapter", "gpt-4", "--gguf", "model.gguf"],
    ["adapter", "--hf-config", "config.json", "--gguf", "model.gguf"],
    ["frobnicate"],
    [],
])
def test_bad_usage_exits_2_with_a_message(args, tmp_path):
    r = subprocess.run([KVC, *args], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert r.returncode == 2, r
    assert r.stderr.startswith("kvc: USAGE: ") and r.stdout == ""
    j = subprocess.run([KVC, *args, "--json"], cwd=tmp_path, capture_output=True, text=True,
                       timeout=30)
    assert j.returncode == 2
    assert json.loads(j.stdout)["error"]["status"] == "USAGE"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", ["compress", "decompress", "inspect", "verify"])
def test_a_missing_input_exits_1_naming_the_path(command, tmp_path):
    missing = tmp_path / "no-such-file"
    out = ["-o", tmp_path / "out"] if command in ("compress", "decompress") else []
    r = kvc(command, missing, *out)
    assert r.returncode == 1
    assert r.stderr == f"kvc: KVC_ERR_IO: {missing}: No such file or directory\n"
    j = kvc(command, missing, *out, "--json")
    assert j.returncode == 1
    assert json.loads(j.stdout) == {"error": {"status": "KVC_ERR_IO",
                                              "message": f"{missing}: No such file or directory"}}
    assert list(tmp_path.iterdir()) == []


def test_a_directory_as_input_exits_1(tmp_path):
    r = kvc("verify", tmp_path)
    assert r.returncode == 1 and "Is a directory" in r.stderr


def test_invalid_params_exit_1_and_leave_an_existing_output_untouched(tmp_path):
    out = tmp_path / "out.kvc"
    out.write_bytes(b"previous contents")
    for flags in (["--group-size", "48"], ["--bits", "5"], ["--zstd-level", "99"],
                  ["--recent-tokens", "-1"]):
        r = kvc("compress", need(STORIES), "-o", out, *flags, "--json")
        assert r.returncode == 1, (flags, r.stderr)
        assert json.loads(r.stdout)["error"]["status"] == "KVC_ERR_INVALID_ARGUMENT"
        assert r.stderr.startswith("kvc: KVC_ERR_INVALID_ARGUMENT: ")
    assert out.read_bytes() == b"previous contents"
    assert leftovers(tmp_path) == []


def test_unwritable_output_exits_1_without_leftovers(tmp_path):
    src = need(STORIES)
    r = kvc("compress", src, "-o", tmp_path / "missing-dir" / "out.kvc")
    assert r.returncode == 1 and "KVC_ERR_IO" in r.stderr
    assert "No such file or directory" in r.stderr
    (tmp_path / "taken").mkdir()
    r = kvc("compress", src, "-o", tmp_path / "taken")
    assert r.returncode == 1 and "KVC_ERR_IO" in r.stderr
    assert leftovers(tmp_path) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_a_safetensors_file_is_not_a_blob_and_a_blob_is_not_a_cache(tmp_path, stories_blob):
    r = kvc("inspect", need(STORIES))
    assert r.returncode == 3 and r.stderr.startswith("kvc: KVC_ERR_CORRUPT_DATA: ")
    r = kvc("compress", stories_blob[0], "-o", tmp_path / "x.kvc")
    assert r.returncode == 3 and not (tmp_path / "x.kvc").exists() and leftovers(tmp_path) == []


def test_a_newer_format_major_is_unsupported(tmp_path, small_blob):
    blob = bytearray(small_blob)
    blob[4] += 1  # format major, little-endian uint16 after the 4-byte magic
    (tmp_path / "new.kvc").write_bytes(bytes(blob))
    for command in ("inspect", "verify"):
        r = kvc(command, tmp_path / "new.kvc", "--json")
        assert r.returncode == 3
        assert json.loads(r.stdout)["error"]["status"] == "KVC_ERR_UNSUPPORTED_VERSION"


# ---- Corruption sweep ---------------------------------------------------------------------


def _expect_rejected(blob, path, out):
    """Writes blob to path; verify and decompress must both exit 3 with a message, no output."""
    path.write_bytes(blob)
    problems = []
    for args in (["verify", path], ["decompress", path, "-o", out]):
        r = kvc(*args, timeout=30)
        if r.returncode != 3 or not re.match(r"kvc: KVC_ERR_(CORRUPT_DATA|UNSUPPORTED_VERSION): .+",
                                             r.stderr):
            problems.append(f"{args[0]}: exit {r.returncode}, stderr {r.stderr!r}")
    if out.exists() or out.with_name(out.stem + ".metadata.json").exists():
        problems.append("decompress left an output file")
    return problems


def _sweep(cases, tmp_path):
    """cases: [(label, bytes)]; runs them two at a time, each in its own file."""
    def one(i_case):
        i, (label, blob) = i_case
        problems = _expect_rejected(blob, tmp_path / f"case{i}.kvc",
                                    tmp_path / f"out{i}.safetensors")
        return [f"{label}: {p}" for p in problems]

    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [p for ps in pool.map(one, enumerate(cases)) for p in ps]
    assert failures == [], f"{len(failures)} problems, first: {failures[:10]}"
    assert leftovers(tmp_path) == []


def test_every_flipped_bit_is_detected(tmp_path, small_blob):
    assert kvc("verify", _write(tmp_path / "intact.kvc", small_blob)).returncode == 0
    rng = random.Random(20240601)
    n = len(small_blob)
    # Spread positions over the whole blob, plus every byte of the preamble and header start and
    # of the footer and trailer, where the structure lives.
    positions = sorted(set(range(0, n, max(1, n // 400))) | set(range(48)) | set(range(n - 96, n)))
    cases = []
    for pos in positions:
        blob = bytearray(small_blob)
        bit = rng.randrange(8)
        blob[pos] ^= 1 << bit
        cases.append((f"bit {bit} of byte {pos}/{n}", bytes(blob)))
    assert len(cases) >= 300
    _sweep(cases, tmp_path)


def test_every_truncation_is_detected(tmp_path, small_blob):
    n = len(small_blob)
    lengths = sorted(set(range(0, 64)) | set(range(0, n, max(1, n // 120))) | set(range(n - 64, n)))
    _sweep([(f"first {k} of {n} bytes", small_blob[:k]) for k in lengths], tmp_path)


def test_empty_foreign_and_extended_files_are_rejected(tmp_path, small_blob):
    cases = [("empty file", b""),
             ("text file", b"hello, this is not a kvc blob\n" * 40),
             ("safetensors file", need(STORIES).read_bytes()),
             ("magic only", small_blob[:8]),
             ("trailing garbage", small_blob + b"\0"),
             ("blob twice", small_blob + small_blob),
             ("zeros", bytes(len(small_blob)))]
    _sweep(cases, tmp_path)


# ---- Model adapters ------------------------------------------------------------------------

SEED_MODELS = {  # seed 000: name -> (attention type, window, recommended threshold)
    "gpt-3.5": ("causal", 0, 0.90), "gpt-4": ("causal", 0, 0.92), "gpt-4o": ("causal", 0, 0.93),
    "claude-3-opus": ("bidirectional", 0, 0.91), "claude-3-sonnet": ("bidirectional", 0, 0.90),
    "claude-3.5-sonnet": ("bidirectional", 0, 0.92), "llama-2-7b": ("causal", 0, 0.88),
    "llama-2-70b": ("causal", 0, 0.90), "llama-3-8b": ("causal", 0, 0.89),
    "llama-3.1-70b": ("causal", 0, 0.91), "mistral-7b": ("sliding-window", 4096, 0.87),
    "mixtral-8x7b": ("sliding-window", 4096, 0.88), "qwen-7b": ("causal", 0, 0.89),
    "qwen-2.5-72b": ("causal", 0, 0.91), "deepseek-v2": ("latent", 0, 0.85),
    "deepseek-v3": ("latent", 0, 0.86),
}


def test_models_lists_every_seed_model_with_its_figures():
    r = kvc_json("models")
    assert r["command"] == "models" and r["count"] == len(r["models"]) >= 21
    by_name = {m["name"]: m for m in r["models"]}
    assert len(by_name) == r["count"]
    for name, (attention, window, threshold) in SEED_MODELS.items():
        m = by_name[name]
        assert m["attention_type"] == attention, name
        assert m["window_tokens"] == window, name
        assert m["policy"]["attention_threshold"] == threshold, name
        assert m["is_builtin"] is True
    assert by_name["gpt-4"]["has_shape"] is False and by_name["gpt-4"]["num_layers"] == 0
    tiny = by_name["tinyllama-1.1b"]
    assert (tiny["num_layers"], tiny["num_query_heads"], tiny["num_kv_heads"],
            tiny["head_dim"]) == (22, 32, 4, 64)
    v2 = by_name["deepseek-v2"]
    assert (v2["num_layers"], v2["latent_dim"], v2["rope_key_dim"], v2["head_dim"]) == (
        60, 512, 64, 576)


def test_models_table_has_one_row_per_adapter():
    r = kvc("models")
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "FAMILY", "ATTENTION"]
    count = kvc_json("models")["count"]
    assert len(lines) == count + 2 and lines[-1].startswith(f"{count} adapters")
    assert any(line.startswith("mistral-7b") and "sliding-window (4096)" in line
               for line in lines)


def test_adapter_by_name_is_case_insensitive_and_matches_the_list():
    listed = {m["name"]: m for m in kvc_json("models")["models"]}
    for name in ("GPT-4", "Qwen2.5-72B", "llama-3-8b"):
        a = kvc_json("adapter", name)
        assert a.pop("command") == "adapter"
        assert a == listed[a["name"]]
    r = kvc("adapter", "deepseek-v3")
    assert r.returncode == 0
    assert "latent attention" in r.stdout and "one latent of 512" in r.stdout


def test_adapter_from_a_hf_config_file(tmp_path):
    config = {"_name_or_path": "mistralai/Mistral-7B-v0.1", "model_type": "mistral",
              "hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 32,
              "num_key_value_heads": 8, "rope_theta": 10000.0, "sliding_window": 4096,
              "max_position_embeddings": 32768}
    path = _write(tmp_path / "config.json", json.dumps(config).encode())
    a = kvc_json("adapter", "--hf-config", path)
    assert a["name"] == "mistralai/Mistral-7B-v0.1" and a["is_builtin"] is False
    assert a["attention_type"] == "sliding-window" and a["window_tokens"] == 4096
    assert (a["num_layers"], a["num_kv_heads"], a["head_dim"]) == (32, 8, 128)
    del config["num_hidden_layers"]
    _write(path, json.dumps(config).encode())
    r = kvc("adapter", "--hf-config", path, "--json")
    assert r.returncode == 1
    err = json.loads(r.stdout)["error"]
    assert err["status"] == "KVC_ERR_INVALID_ARGUMENT"
    assert "num_hidden_layers is missing" in err["message"]
    _write(path, b"{not json")
    assert kvc("adapter", "--hf-config", path).returncode == 3


def test_adapter_from_gguf_reads_only_the_metadata(tmp_path):
    if not STORIES_GGUF.is_file():
        pytest.skip(f"{STORIES_GGUF} not found")
    a = kvc_json("adapter", "--gguf", STORIES_GGUF)
    assert (a["num_layers"], a["num_query_heads"], a["num_kv_heads"], a["head_dim"]) == (
        5, 8, 4, 8)
    assert a["family"] == "llama" and a["is_builtin"] is False
    data = STORIES_GGUF.read_bytes()
    for n in (0, 3, 24, 200):
        r = kvc("adapter", "--gguf", _write(tmp_path / "cut.gguf", data[:n]))
        assert r.returncode == 3, (n, r.stderr)
        assert r.stderr.startswith("kvc: KVC_ERR_CORRUPT_DATA: ")
    r = kvc("adapter", "--gguf", tmp_path / "missing.gguf")
    assert r.returncode == 1 and "KVC_ERR_IO" in r.stderr
    r = kvc("adapter", "--gguf", tmp_path)
    assert r.returncode == 1 and "Is a directory" in r.stderr


def test_an_unknown_model_exits_1_pointing_at_the_list():
    r = kvc("adapter", "gpt-5")
    assert r.returncode == 1
    assert r.stderr == ("kvc: KVC_ERR_INVALID_ARGUMENT: unknown model 'gpt-5' "
                        "(run 'kvc models' for the list)\n")


# ---- Output contract ----------------------------------------------------------------------


def test_every_subcommand_prints_one_json_document(tmp_path, stories_blob):
    blob = stories_blob[0]
    for args in (["compress", need(STORIES), "-o", tmp_path / "a.kvc"],
                 ["decompress", blob, "-o", tmp_path / "a.safetensors"],
                 ["inspect", blob],
                 ["verify", blob],
                 ["verify", _write(tmp_path / "bad.kvc", b"junk")],
                 ["decompress", tmp_path / "bad.kvc", "-o", tmp_path / "b.safetensors"],
                 ["inspect", tmp_path / "bad.kvc"],
                 ["compress", tmp_path / "bad.kvc", "-o", tmp_path / "b.kvc"],
                 ["models"],
                 ["adapter", "gpt-4"],
                 ["adapter", "gpt-5"],
                 ["adapter", "--gguf", tmp_path / "bad.kvc"]):
        r = kvc(*args, "--json")
        doc = json.loads(r.stdout)  # raises unless stdout is exactly one JSON document
        assert isinstance(doc, dict)
        if r.returncode == 0:
            assert doc["command"] == args[0] and r.stderr == ""
        else:
            assert set(doc) == {"error"} and set(doc["error"]) == {"status", "message"}
            assert r.stderr == f'kvc: {doc["error"]["status"]}: {doc["error"]["message"]}\n'


def test_progress_is_drawn_only_on_a_terminal(tmp_path):
    src = need(STORIES)
    quiet = kvc("compress", src, "-o", tmp_path / "q.kvc", "--json")
    assert quiet.returncode == 0 and quiet.stderr == ""
    master, slave = pty.openpty()
    try:
        r = subprocess.run([KVC, "compress", src, "-o", tmp_path / "t.kvc", "--json"],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave,
                           timeout=60)
        os.close(slave)
        slave = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO once the child's side is closed
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        if slave >= 0:
            os.close(slave)
        os.close(master)
    assert r.returncode == 0
    json.loads(r.stdout)
    assert b"\r" in drawn and b"100%" in drawn
    assert drawn.endswith(b"\r"), "the progress line is cleared at the end"
