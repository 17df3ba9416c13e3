# test_eval.py: kvc.eval: the synthetic quick test and a small stories260K run with its outputs.
import json

import pytest

import kvc
from conftest import require_torch_stack
from kvc.eval.__main__ import grid, main
from kvc.eval.synthetic import run_quick_test


def test_quick_test_passes_at_8_bits_and_loses_more_with_fewer_bits():
    results = {b: run_quick_test(kvc.CompressParams(key_bits=b, value_bits=b, group_size=128))
               for b in (8, 4, 2)}
    assert results[8].passed and abs(results[8].delta_percent) < 1.0
    assert results[8].cosine_similarity > results[4].cosine_similarity > \
        results[2].cosine_similarity
    assert abs(results[8].delta) < abs(results[4].delta) < abs(results[2].delta)
    assert not results[2].passed
    assert results[2].bits_per_element < results[4].bits_per_element < \
        results[8].bits_per_element
    lossless = run_quick_test(kvc.CompressParams(key_bits=16, value_bits=16))
    assert lossless.delta == 0.0 and lossless.passed


def test_grid_covers_bits_groups_recent_windows_and_attention_thresholds():
    settings = grid([16, 8, 4], [32, 128], [0, 64], [0.9])
    assert settings == [{"bits": 16, "group": 128, "recent": 0},
                        {"bits": 8, "group": 32, "recent": 0},
                        {"bits": 8, "group": 128, "recent": 0},
                        {"bits": 4, "group": 32, "recent": 0},
                        {"bits": 4, "group": 128, "recent": 0},
                        {"bits": 4, "group": 128, "recent": 64},
                        {"bits": 16, "group": 128, "recent": 0, "attention": 0.9},
                        {"bits": 4, "group": 128, "recent": 0, "attention": 0.9}]
    assert grid([8], [64], [], []) == [{"bits": 8, "group": 64, "recent": 0}]
    assert grid([8], [64], [], [], [0.5])[1:] == [{"bits": 16, "group": 64, "recent": 0,
                                                   "attention": 0.5, "per_head": True}]


def test_stories260K_run_writes_table_json_and_plot(stories_model, tmp_path, capsys):
    require_torch_stack()
    stem = tmp_path / "stories"
    assert main(["--model", "stories260K", "--windows", "3", "--context", "128", "--stride",
                 "64", "--bits", "16,8,2", "--groups", "32", "--recent", "0",
                 "--attention-thresholds", "0.9", "--needle-lengths", "64", "--needle-bits", "8",
                 "--out", str(stem)]) == 0
    results = json.loads((tmp_path / "stories.json").read_text())
    ppl = results["perplexity"]
    assert ppl["scored_tokens"] == 3 * 64 and ppl["windows"] == 3
    rows = {r["label"]: r for r in ppl["rows"]}
    assert list(rows) == ["16-bit", "8-bit g32", "2-bit g32", "16-bit attn 0.9",
                          "4-bit g32 attn 0.9"]
    # selection keeps part of the context: fewer bytes against the full cache's elements
    selected = rows["16-bit attn 0.9"]
    assert 36 / 127 <= selected["tokens_kept"] < 1 and rows["16-bit"]["tokens_kept"] == 1
    assert selected["bits_per_element"] < rows["16-bit"]["bits_per_element"]
    assert selected["kl"] > rows["16-bit"]["kl"]
    assert 20 < ppl["baseline"]["ppl"] < 1000
    # fp16 lossless only rounds the fp32 cache to fp16; 8 bits stays close; 2 bits drifts most
    assert abs(rows["16-bit"]["ppl_delta_pct"]) < 0.1 and rows["16-bit"]["top1"] > 0.99
    assert rows["8-bit g32"]["kl"] < rows["2-bit g32"]["kl"]
    assert rows["8-bit g32"]["top1"] >= rows["2-bit g32"]["top1"]
    assert rows["2-bit g32"]["bits_per_element"] < rows["8-bit g32"]["bits_per_element"] < \
        rows["16-bit"]["bits_per_element"]
    assert all(r["kl"] >= -1e-6 and r["passed"] == (r["ppl_delta_pct"] <= 1.0)
               for r in rows.values())
    assert [r["label"] for r in results["needle"]["rows"]] == ["uncompressed", "8-bit g32",
                                                               "4-bit g32 attn 0.9"]
    table = (tmp_path / "stories.md").read_text()
    assert "| 2-bit g32 | " in table and table in capsys.readouterr().out
    assert f"| 16-bit attn 0.9 | {selected['bits_per_element']:.2f} | " \
        f"{selected['tokens_kept']:.3f} |" in table
    png = (tmp_path / "stories.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10000


def test_perplexity_from_runs_only_the_missing_rows_and_checks_the_baseline(stories_model,
                                                                           tmp_path):
    require_torch_stack()
    common = ["--model", "stories260K", "--windows", "2", "--context", "128", "--stride", "64",
              "--bits", "8", "--groups", "32", "--recent", "0", "--no-needle"]
    first = tmp_path / "first"
    assert main(common + ["--attention-thresholds", "", "--out", str(first)]) == 0
    old = json.loads((tmp_path / "first.json").read_text())["perplexity"]
    second = tmp_path / "second"
    assert main(common + ["--attention-thresholds", "0.9", "--perplexity-from",
                          f"{first}.json", "--out", str(second)]) == 0
    new = json.loads((tmp_path / "second.json").read_text())["perplexity"]
    assert new["reused_rows"] == 1 and new["rows"][0] == old["rows"][0]
    assert [r["label"] for r in new["rows"]] == ["8-bit g32", "16-bit attn 0.9",
                                                 "4-bit g32 attn 0.9"]
    assert new["baseline"]["ppl"] == old["baseline"]["ppl"]
    tampered = json.loads((tmp_path / "first.json").read_text())
    tampered["perplexity"]["baseline"]["ppl"] *= 1.01
    (tmp_path / "tampered.json").write_text(json.dumps(tampered))
    with pytest.raises(SystemExit, match="baseline"):
        main(common + ["--attention-thresholds", "0.9", "--perplexity-from",
                       str(tmp_path / "tampered.json")])


def test_main_quick_test_prints_one_line_per_bit_width(capsys):
    assert main(["--quick-test", "--bits", "8,4"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[0].startswith(" 8-bit") and "PASS" in lines[0]


@pytest.mark.parametrize("bad", [["--bits", "5"]])
def test_quick_test_rejects_unsupported_bits(bad):
    with pytest.raises(kvc.KvcError):
        main(["--quick-test"] + bad)
