# test_cli_selection.py: kvc compress with token selection and queries, decompress --scatter,
# inspect of a selected blob, and kvc validate, on the real stories260K cache and its queries.
import json

import numpy as np
import pytest

from test_cli import DATA_DIR, STORIES, kvc, kvc_json, need, read_safetensors

QUERIES = DATA_DIR / "stories260K.queries.safetensors"


@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    out = tmp_path_factory.mktemp("sel") / "s.kvc"
    r = kvc_json("compress", need(STORIES), "-o", out, "--model", "gpt-4", "--select",
                 "attention", "--queries", need(QUERIES))
    return out, r


def test_attention_selection_keeps_fewer_tokens_with_the_model_threshold(selected):
    out, r = selected
    assert r["selection"]["policy"] == "attention"
    assert r["selection"]["attention_threshold"] == pytest.approx(0.92)  # gpt-4's policy
    assert r["model_name"] != "" and r["tokens_kept"] < r["tokens_total"]
    assert r["attention_coverage"] >= 0.92 and r["attention"]["coverage"] >= 0.92
    assert r["tokens_saved"] == r["tokens_total"] - r["tokens_kept"]
    i = kvc_json("inspect", out)
    assert i["format_minor"] == 1 and i["selection"]["policy"] == "attention"
    assert i["selection"]["tokens_kept"] == r["tokens_kept"]


def test_flags_given_win_over_the_model_policy(tmp_path):
    r = kvc_json("compress", need(STORIES), "-o", tmp_path / "m.kvc", "--model", "gpt-4",
                 "--bits", "8", "--threshold", "0.5", "--select", "attention", "--queries",
                 need(QUERIES))
    assert r["params"]["key_bits"] == 8 and r["selection"]["attention_threshold"] == 0.5


def test_decompress_scatter_restores_the_length_and_zeros_evicted_rows(selected, tmp_path):
    out, r = selected
    plain = kvc("decompress", out, "-o", tmp_path / "k.safetensors")
    assert plain.returncode == 1 and "--scatter" in plain.stderr  # layers keep different counts
    d = kvc_json("decompress", out, "-o", tmp_path / "full.safetensors", "--scatter")
    assert d["scatter"] is True and sum(d["layer_tokens_kept"]) == r["tokens_kept"]
    dtype, shape, raw = read_safetensors(tmp_path / "full.safetensors")["layer_0_key"]
    assert dtype == "F16" and shape[2] == r["shape"]["num_tokens"]
    key0 = np.frombuffer(raw, dtype=np.uint16).reshape(shape)[0]  # [heads, tokens, dim]
    zero_rows = int((~key0.any(axis=-1)).all(axis=0).sum())
    assert zero_rows == r["shape"]["num_tokens"] - d["layer_tokens_kept"][0]


def test_validate_reports_metrics_and_exit_codes(selected, tmp_path):
    out, r = selected
    v = kvc_json("validate", need(STORIES), out, "--queries", need(QUERIES), "--model", "gpt-4")
    assert v["passed"] is True and v["tokens_kept"] == r["tokens_kept"]
    assert v["attention"]["coverage"] == pytest.approx(r["attention_coverage"], abs=1e-9)
    assert 0 <= v["attention"]["topk_overlap"] <= 1
    assert any(line.startswith("warning:") for line in v["report"])
    strict = kvc("validate", need(STORIES), out, "--queries", need(QUERIES),
                 "--max-attention-error", "0.0001", "--json")
    assert strict.returncode == 3
    doc = json.loads(strict.stdout)
    assert doc["passed"] is False and any(l.startswith("recommend:") for l in doc["report"])


def test_bad_selection_flags_are_refused(tmp_path):
    r = kvc("compress", need(STORIES), "-o", tmp_path / "x.kvc", "--select", "attention")
    assert r.returncode == 1 and "needs queries" in r.stderr
    r = kvc("compress", need(STORIES), "-o", tmp_path / "x.kvc", "--threshold", "1.5",
            "--select", "attention", "--queries", need(QUERIES))
    assert r.returncode == 1 and "attention_threshold" in r.stderr
    r = kvc("compress", need(STORIES), "-o", tmp_path / "x.kvc", "--model", "no-such-model")
    assert r.returncode == 1 and "no-such-model" in r.stderr
    assert not (tmp_path / "x.kvc").exists()
