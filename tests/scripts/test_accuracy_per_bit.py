# pytest: scripts/eval/accuracy_per_bit.py (kvc vs llama.cpp KV-cache types, attention error) on stories260K.
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "eval" / "accuracy_per_bit.py"
CLI = Path(os.environ.get("KVC_CLI") or REPO / "build" / "kvc")
DATA = Path(os.environ.get("KVC_TEST_DATA_DIR") or REPO / "build" / "data")
STEM = "stories260K"

sys.path.insert(0, str(SCRIPT.parent))
import accuracy_per_bit as A  # noqa: E402

needs_data = pytest.mark.skipif(
    not (DATA / f"{STEM}.safetensors").is_file() or not (DATA / f"{STEM}.queries.safetensors").is_file(),
    reason=f"{DATA}/{STEM}(.queries).safetensors not found (set KVC_TEST_DATA_DIR)")
needs_cli = pytest.mark.skipif(not (CLI.is_file() and os.access(CLI, os.X_OK)),
                               reason=f"kvc CLI not found at {CLI} (build kvc_cli or set KVC_CLI)")

METRICS = ["bits_per_element", "key_cosine", "value_cosine", "key_snr_db", "value_snr_db",
           "attn_rel_err", "attn_kl", "attn_top1"]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("apb") / "quick.json"
    r = subprocess.run([sys.executable, str(SCRIPT), "--cli", str(CLI), "--data", str(DATA), "--model", STEM,
                        "--quick", "--json", str(out)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    doc = json.loads(out.read_text())
    rows = {(x["method"], x["config"]): x for x in doc["rows"]}
    return r.stdout, doc, rows


@needs_cli
@needs_data
def test_table_has_expected_rows(quick_run):
    stdout, doc, rows = quick_run
    expected = {("kvc", "2-bit g64"), ("kvc", "4-bit g64"), ("kvc", "8-bit g64"), ("kvc", "lossless"),
                ("llama.cpp", "Q4_0"), ("llama.cpp", "Q8_0"), ("kivi-ref", "4-bit g64")}
    assert set(rows) == expected
    assert len(doc["rows"]) == len(expected)
    table = [ln for ln in stdout.splitlines() if ln.startswith("| ") and not ln.startswith("| method")]
    assert {tuple(c.strip() for c in ln.strip("|").split("|")[:2]) for ln in table} == expected
    assert len(table) == len(expected)
    # sorted by method, then bits per element
    keys = [(x["method"], x["bits_per_element"]) for x in doc["rows"]]
    assert keys == sorted(keys)
    assert doc["models"][STEM] == {"layers": 5, "kv_heads": 4, "tokens": 512, "head_dim": 8, "q_heads": 8,
                                   "queries": 32}


@needs_cli
@needs_data
def test_figures_finite_and_in_range(quick_run):
    _, _, rows = quick_run
    for key, r in rows.items():
        exact = r["attn_rel_err"] == 0.0
        for m in METRICS:
            v = r[m]
            if v is None:  # SNR of an exact reconstruction (inf) is written as null
                assert m.endswith("_snr_db") and exact, (key, m)
                continue
            assert math.isfinite(v), (key, m, v)
        assert 0 < r["bits_per_element"] <= 16.5, key
        assert -1 <= r["key_cosine"] <= 1 + 1e-12 and -1 <= r["value_cosine"] <= 1 + 1e-12, key
        assert r["attn_rel_err"] >= 0 and r["attn_kl"] >= -1e-12 and 0 <= r["attn_top1"] <= 1, key


@needs_cli
@needs_data
def test_lossless_row_is_exact(quick_run):
    _, _, rows = quick_run
    r = rows[("kvc", "lossless")]
    assert r["attn_rel_err"] == 0.0 and r["attn_kl"] == 0.0 and r["attn_top1"] == 1.0
    assert r["key_snr_db"] is None and r["value_snr_db"] is None
    assert r["key_cosine"] == pytest.approx(1.0, abs=1e-12)
    assert r["bits_per_element"] < 16.0


@needs_cli
@needs_data
def test_kvc_error_decreases_with_bits(quick_run):
    _, _, rows = quick_run
    kvc = sorted((r for (m, _), r in rows.items() if m == "kvc"), key=lambda r: r["params"]["bits"])
    assert [r["params"]["bits"] for r in kvc] == [2, 4, 8, 16]
    for lo, hi in zip(kvc, kvc[1:]):
        assert hi["bits_per_element"] > lo["bits_per_element"]
        assert hi["attn_rel_err"] < lo["attn_rel_err"]
        assert hi["attn_kl"] < lo["attn_kl"]
        assert hi["key_cosine"] > lo["key_cosine"]


@needs_cli
@needs_data
def test_q8_0_beats_q4_0(quick_run):
    _, _, rows = quick_run
    q8, q4 = rows[("llama.cpp", "Q8_0")], rows[("llama.cpp", "Q4_0")]
    assert q8["bits_per_element"] == 8.5 and q4["bits_per_element"] == 4.5
    assert q8["attn_rel_err"] < q4["attn_rel_err"]
    assert q8["attn_kl"] < q4["attn_kl"]
    assert q8["key_snr_db"] > q4["key_snr_db"] and q8["value_snr_db"] > q4["value_snr_db"]


@needs_cli
@needs_data
def test_kivi_reference_matches_kvc_quantizer(quick_run):
    # Same scheme, no entropy stage: near-identical error, more bits than kvc (which adds Zstandard).
    _, _, rows = quick_run
    kivi, kvc = rows[("kivi-ref", "4-bit g64")], rows[("kvc", "4-bit g64")]
    assert kivi["bits_per_element"] == pytest.approx((4 + 32 / 64 + 4 + 32 / 8) / 2)
    assert kvc["bits_per_element"] < kivi["bits_per_element"]
    assert kivi["attn_rel_err"] == pytest.approx(kvc["attn_rel_err"], rel=0.05)


@needs_data
def test_attention_metrics_match_naive_loop():
    K, V, Q, _ = A.load_model(DATA, STEM)
    ref = A.Reference(K, V, Q)
    rng = np.random.default_rng(0)
    Kh = K + rng.normal(0, 0.05, K.shape).astype(np.float32)
    Vh = V + rng.normal(0, 0.05, V.shape).astype(np.float32)
    got = ref.evaluate(Kh, Vh)
    L, H, T, D = K.shape
    Hq, N = Q.shape[1], Q.shape[2]
    rel, kl, top = [], [], []
    for li in range(L):
        for j in range(Hq):
            h = j // (Hq // H)
            for n in range(N):
                end = T - N + n + 1
                q = Q[li, j, n].astype(np.float64)
                s = K[li, h, :end].astype(np.float64) @ q / math.sqrt(D)
                sh = Kh[li, h, :end].astype(np.float64) @ q / math.sqrt(D)
                p = np.exp(s - s.max()); p /= p.sum()
                ph = np.exp(sh - sh.max()); ph /= ph.sum()
                o = p @ V[li, h, :end]
                oh = ph @ Vh[li, h, :end]
                rel.append(np.linalg.norm(oh - o) / np.linalg.norm(o))
                kl.append(float(np.sum(p * (np.log(p) - np.log(ph)))))
                top.append(p.argmax() == ph.argmax())
    assert got["attn_rel_err"] == pytest.approx(np.mean(rel), rel=1e-4)
    assert got["attn_kl"] == pytest.approx(np.mean(kl), rel=1e-3)
    assert got["attn_top1"] == pytest.approx(np.mean(top))
    x, xh = K.astype(np.float64).ravel(), Kh.astype(np.float64).ravel()
    assert got["key_cosine"] == pytest.approx(x @ xh / np.linalg.norm(x) / np.linalg.norm(xh), rel=1e-9)
    assert got["key_snr_db"] == pytest.approx(10 * math.log10((x @ x) / np.sum((x - xh) ** 2)), rel=1e-9)


def test_hf_gguf_dim_order_roundtrip():
    x = np.arange(2 * 3 * 16, dtype=np.float32).reshape(2, 3, 16)
    g = A.hf_to_gguf_order(x)
    assert np.array_equal(g[..., 0::2], x[..., :8]) and np.array_equal(g[..., 1::2], x[..., 8:])
    assert np.array_equal(A.gguf_to_hf_order(g), x)
