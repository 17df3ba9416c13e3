# test_operations.py: token selection with queries, scatter and masks, estimate, validate,
# benchmark and statistics through the Python binding, on a synthetic scene and a real cache.
import threading

import numpy as np
import pytest

import kvc
from conftest import DATA_DIR


def scene(layers=2, heads=2, q_heads=4, tokens=64, dim=16, n=4, seed=3):
    """Float32 keys/values plus per-layer queries; five tokens per head align with the queries."""
    rng = np.random.default_rng(seed)
    keys = rng.standard_normal((layers, heads, tokens, dim)).astype(np.float32)
    values = rng.standard_normal((layers, heads, tokens, dim)).astype(np.float32)
    queries = (0.3 * rng.standard_normal((layers, q_heads, n, dim)) + 1.0).astype(np.float32)
    for i in range(5):
        keys[:, :, (11 * i + 20) % tokens, :] = 4.0
    return keys, values, queries


def test_attention_selection_keeps_few_tokens_and_scatters_back():
    keys, values, queries = scene()
    params = kvc.CompressParams(key_bits=16, value_bits=16, selection="attention",
                                attention_threshold=0.9, sink_tokens=0,
                                recent_always_kept_tokens=0)
    blob, m = kvc.compress_with_metrics(keys, values, params, queries=queries)
    assert m.tokens_total == 2 * 64 and m.tokens_kept < m.tokens_total
    assert m.attention_coverage >= 0.9
    positions = kvc.kept_positions(blob)
    assert len(positions) == 2 and sum(p.shape[1] for p in positions) == m.tokens_kept
    mask = kvc.kept_mask(blob)
    assert mask.shape == (2, 2, 64) and mask.sum() == 2 * m.tokens_kept
    k, v = kvc.decompress(blob, scatter=True)
    assert k.shape == keys.shape
    np.testing.assert_array_equal(k[mask], keys[mask])  # lossless on the kept rows
    assert not k[~mask].any() and not v[~mask].any()
    kept_k, _ = kvc.decompress(blob)
    if isinstance(kept_k, list):  # layers kept different counts
        assert [a.shape[1] for a in kept_k] == [p.shape[1] for p in positions]
        np.testing.assert_array_equal(kept_k[0], keys[0][:, positions[0][0], :])
    else:
        np.testing.assert_array_equal(kept_k[0], keys[0][:, positions[0][0], :])


def test_validate_reports_attention_metrics_and_recommendations():
    keys, values, queries = scene()
    params = kvc.CompressParams(key_bits=2, value_bits=2, group_size=32, selection="attention",
                                attention_threshold=0.5, sink_tokens=0,
                                recent_always_kept_tokens=0)
    blob = kvc.compress(keys, values, params, queries=queries)
    report = kvc.validate(keys, values, blob, queries=queries, model="gpt-4")
    assert report.attention_coverage >= 0.5
    assert 0 <= report.topk_overlap <= 1 and report.attention_kl >= 0
    assert not report.passed and report.recommendations
    assert any(line.startswith("recommend:") for line in report.report)
    no_queries = kvc.validate(keys, values, blob)
    assert no_queries.attention_coverage == -1 and "no_queries" in no_queries.warnings


def test_bad_selection_input_raises_with_the_field_named():
    keys, values, queries = scene()
    with pytest.raises(kvc.KvcError, match="attention_threshold"):
        kvc.compress(keys, values, kvc.CompressParams(selection="attention",
                                                      attention_threshold=1.5), queries=queries)
    with pytest.raises(kvc.KvcError, match="needs queries"):
        kvc.compress(keys, values, kvc.CompressParams(selection="attention"))
    with pytest.raises(kvc.KvcError, match="head_dim"):
        kvc.compress(keys, values, kvc.CompressParams(selection="attention"),
                     queries=queries[..., :8])
    with pytest.raises(ValueError, match="selection"):
        kvc.CompressParams(selection="random")
    with pytest.raises(kvc.KvcError):
        kvc.find_adapter("no-such-model")


def test_estimate_is_close_to_the_real_size():
    keys, values, _ = scene(layers=4, heads=2, tokens=256, dim=64)
    params = kvc.CompressParams(key_bits=4, value_bits=4, group_size=64)
    blob = kvc.compress(keys.astype(np.float16), values.astype(np.float16), params)
    e = kvc.estimate((4, 2, 256, 64), params)
    assert e.exact_tokens and e.tokens_kept == 4 * 256
    assert abs(e.compressed_bytes - len(blob)) / len(blob) < 0.05
    by_model = kvc.estimate(model="llama-3-8b", tokens=1024)
    assert by_model.original_bytes == 2 * 32 * 8 * 1024 * 128 * 2


def test_adapter_policy_becomes_params():
    p = kvc.adapter_compress_params("gpt-4")
    assert p.model_name == "gpt-4" and abs(p.attention_threshold - 0.92) < 1e-6


def test_benchmark_and_statistics_shared_by_threads():
    keys, values, queries = scene()
    params = kvc.CompressParams(key_bits=8, value_bits=8, selection="attention",
                                attention_threshold=0.9, model_name="demo")
    result = kvc.benchmark(keys, values, params, iterations=3, queries=queries)
    assert result.iterations == 3 and result.compress_ms_median > 0
    assert result.compress_ms_median <= result.compress_ms_p99
    with kvc.Stats() as stats:
        def work():
            with kvc.Context() as ctx:
                ctx.set_stats(stats)
                for _ in range(5):
                    ctx.compress(keys, values, params, queries=queries)
                ctx.set_stats(None)
        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        s = stats["demo"]
        assert s.compress_calls == 20 and len(stats) == 1
        assert s.mean_attention_coverage >= 0.9 and s.coverage_samples == 20
        stats.reset("demo")
        assert len(stats) == 0
        with pytest.raises(kvc.KvcError, match="demo"):
            stats["demo"]


def test_real_queries_load_and_select_on_stories260k(stories):
    path = DATA_DIR / "stories260K.queries.safetensors"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    keys, values, _ = stories
    queries = kvc.load_queries(path)
    assert queries.shape[0] == keys.shape[0] and queries.shape[-1] == keys.shape[-1]
    params = kvc.CompressParams(key_bits=4, value_bits=4, selection="attention",
                                attention_threshold=0.9)
    blob, m = kvc.compress_with_metrics(keys, values, params, queries=queries)
    assert m.tokens_kept < m.tokens_total and m.attention_coverage >= 0.9
    report = kvc.validate(keys, values, blob, queries=queries)
    assert report.attention_coverage == pytest.approx(m.attention_coverage, abs=1e-9)
