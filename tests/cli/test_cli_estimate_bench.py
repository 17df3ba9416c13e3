# test_cli_estimate_bench.py: `kvc estimate` and `kvc bench` end to end: JSON reports against a
# real compress, model policies, the seed scenario, exit codes and progress on a terminal.
import json
import os
import pty
import subprocess
from pathlib import Path

import pytest

from test_cli import KVC, SMOL, STORIES, kvc, kvc_json, need

pytestmark = pytest.mark.skipif(
    not KVC or not os.path.isfile(KVC),
    reason=f"KVC_CLI={KVC!r} is not the kvc binary (run via ctest)")


def test_estimate_of_a_shape_is_close_to_a_real_compress(tmp_path):
    src = need(SMOL)
    real = kvc_json("compress", src, "-o", tmp_path / "s.kvc", "--bits", "4", "--no-verify")
    shape = real["shape"]
    est = kvc_json("estimate", "--layers", shape["num_layers"], "--heads", shape["num_kv_heads"],
                   "--head-dim", shape["head_dim"], "--tokens", shape["num_tokens"],
                   "--bits", "4")
    assert est["command"] == "estimate" and est["model"] is None
    assert est["shape"] == shape
    assert est["original_size_bytes"] == real["original_size_bytes"]
    error = abs(est["compressed_size_bytes"] - real["compressed_size_bytes"])
    assert error / real["compressed_size_bytes"] <= 0.05
    assert est["tokens_kept"] == est["tokens_total"] == shape["num_layers"] * shape["num_tokens"]
    assert est["tokens_exact"] is True
    assert est["compression_ratio"] == pytest.approx(
        est["original_size_bytes"] / est["compressed_size_bytes"])


def test_estimate_takes_a_models_shape_and_policy_and_flags_override_it():
    models = {m["name"]: m for m in kvc_json("models")["models"]}
    llama = models["llama-3-8b"]
    est = kvc_json("estimate", "--model", "llama-3-8b", "--tokens", 2048)
    assert est["model"] == "llama-3-8b"
    assert est["shape"]["num_layers"] == llama["num_layers"]
    assert est["shape"]["num_kv_heads"] == llama["num_kv_heads"]
    assert est["shape"]["head_dim"] == llama["head_dim"]
    assert est["params"]["model_name"] == "llama-3-8b"
    over = kvc_json("estimate", "--model", "llama-3-8b", "--tokens", 2048, "--bits", "2",
                    "--layers", 4)
    assert over["params"]["key_bits"] == over["params"]["value_bits"] == 2
    assert over["shape"]["num_layers"] == 4
    assert over["compressed_size_bytes"] < est["compressed_size_bytes"]
    mistral = kvc_json("estimate", "--model", "mistral-7b", "--tokens", 5000)
    assert mistral["params"]["sliding_window"] == 4096
    assert mistral["tokens_kept"] == mistral["shape"]["num_layers"] * 4096


def test_estimate_counts_tokens_of_each_selection_policy():
    base = ["estimate", "--head-dim", 64, "--tokens", 1000, "--sinks", 4, "--keep-recent", 32]
    recency = kvc_json(*base, "--select", "recency", "--keep-ratio", 0.25)
    assert recency["tokens_kept"] == 250 and recency["tokens_exact"] is True
    floor = kvc_json(*base, "--select", "key-norm", "--keep-ratio", 0.01)
    assert floor["tokens_kept"] == 36  # raised to the sinks and the recent window
    capped = kvc_json(*base, "--select", "key-norm", "--keep-ratio", 0.5, "--max-tokens", 100)
    assert capped["tokens_kept"] == 100
    attention = kvc_json(*base, "--select", "attention", "--threshold", 0.9)
    assert attention["tokens_exact"] is False and attention["tokens_kept"] == 1000
    assert attention["params"]["attention_threshold"] == pytest.approx(0.9)


@pytest.mark.parametrize("args, where", [
    (["estimate", "--model", "gpt-4", "--tokens", 100], "--head-dim"),
    (["estimate", "--head-dim", 64, "--tokens", 10, "--bits", 5], "key_bits 5"),
    (["estimate", "--head-dim", 64, "--tokens", 10, "--group-size", 48], "group_size 48"),
    (["estimate", "--model", "gpt-5", "--tokens", 10], "gpt-5"),
    (["bench", "--head-dim", 64, "--tokens", 10, "--select", "attention"], "--queries"),
    (["bench", "--head-dim", 64, "--tokens", 10, "-n", 0], "--iterations 0"),
])
def test_invalid_values_exit_1_naming_the_field(args, where):
    r = kvc(*args, "--json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["error"]["status"] == "KVC_ERR_INVALID_ARGUMENT"
    assert where in doc["error"]["message"]


@pytest.mark.parametrize("args", [
    ["estimate", "--head-dim", 64],                       # no --tokens
    ["estimate", "--tokens", 10, "--select", "random"],   # not a policy
    ["bench", "--head-dim", 64],                          # neither a file nor --tokens
])
def test_bad_usage_exits_2(args):
    r = kvc(*args)
    assert r.returncode == 2 and "kvc: USAGE:" in r.stderr


def test_bench_of_the_seed_scenario_reports_times_ratio_and_quality():
    doc = kvc_json("bench", "--model", "gpt-4", "--tokens", 100, "--head-dim", 128,
                   "--queries", 5, "--select", "attention", "-n", 30)
    assert doc["command"] == "bench" and doc["input"] == "synthetic"
    assert doc["shape"] == {"num_layers": 1, "num_kv_heads": 1, "num_tokens": 100,
                            "head_dim": 128, "dtype": "float16"}
    assert doc["params"]["attention_threshold"] == pytest.approx(0.92)
    assert doc["iterations"] == 30
    for phase in ("compress_ms", "decompress_ms"):
        assert 0 < doc[phase]["median"] <= doc[phase]["p99"]
    assert doc["compress_gb_per_s"] == pytest.approx(
        doc["original_size_bytes"] / (doc["compress_ms"]["median"] * 1e6))
    assert doc["original_size_bytes"] == 2 * 100 * 128 * 2
    assert doc["compression_ratio"] == pytest.approx(
        doc["original_size_bytes"] / doc["compressed_size_bytes"])
    assert 0 < doc["tokens_kept"] <= doc["tokens_total"] == 100
    assert isinstance(doc["quality_passed"], bool) and doc["memcpy_gb_per_s"] > 0


def test_bench_of_a_cache_file_matches_its_compress(tmp_path):
    src = need(STORIES)
    real = kvc_json("compress", src, "-o", tmp_path / "s.kvc", "--bits", "8", "--no-verify")
    doc = kvc_json("bench", src, "--bits", "8", "-n", 3)
    assert doc["input"] == str(src)
    assert doc["shape"] == real["shape"]
    assert doc["compressed_size_bytes"] == real["compressed_size_bytes"]
    assert doc["quality_passed"] is True


def test_synthesized_caches_are_reproducible():
    args = ["bench", "--head-dim", 64, "--heads", 2, "--tokens", 256, "--bits", 4, "-n", 1]
    assert kvc_json(*args)["compressed_size_bytes"] == kvc_json(*args)["compressed_size_bytes"]


def test_bench_progress_is_drawn_only_on_a_terminal():
    args = [KVC, "bench", "--head-dim", 64, "--tokens", 512, "-n", 40, "--json"]
    quiet = subprocess.run(list(map(str, args)), stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=60)
    assert quiet.returncode == 0 and quiet.stderr == b""
    master, slave = pty.openpty()
    try:
        r = subprocess.run(list(map(str, args)), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=slave, timeout=60)
        os.close(slave)
        slave = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
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
    assert b"100%" in drawn and drawn.endswith(b"\r")


def test_bench_on_the_device_gives_the_cpu_bytes(tmp_path):
    # The emulated plugin (tests/cuda_emulator) stands in for a GPU; a bad plugin path, for none.
    plugin = Path(KVC).parent / "tests" / "cuda_emulator" / "libkvc_cuda_emulated.so"
    if not plugin.is_file():
        pytest.skip(f"{plugin} is not built")
    src = need(STORIES)
    args = ["bench", src, "--bits", "4", "--recent", "8", "-n", 2, "--json"]
    env = dict(os.environ, KVC_CUDA_PLUGIN=str(plugin))
    on_device = subprocess.run([KVC, *map(str, args), "--device", "cuda"], env=env,
                               capture_output=True, text=True, timeout=120)
    assert on_device.returncode == 0, on_device.stderr
    doc = json.loads(on_device.stdout)
    assert doc["device"] == "cuda"
    assert doc["compressed_size_bytes"] == kvc_json(*args[:-1])["compressed_size_bytes"]
    assert doc["quality_passed"] is True
    env["KVC_CUDA_PLUGIN"] = str(tmp_path / "missing.so")
    none = subprocess.run([KVC, *map(str, args), "--device", "cuda"], env=env,
                          capture_output=True, text=True, timeout=120)
    # The library's own reason reaches the user: which plugin could not be loaded, and why.
    assert none.returncode != 0 and "no CUDA backend" in none.stderr, none.stderr
    assert "missing.so" in none.stderr
