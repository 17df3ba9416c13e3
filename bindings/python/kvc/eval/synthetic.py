# synthetic.py: the quick test: the evaluation pipeline on synthetic data, no model needed.
"""A synthetic cache (keys with a few outlier channels, as real keys have; Gaussian values) and
queries feed one attention layer and a fixed random output head over a small vocabulary. The
"tokens" are drawn from the uncompressed model's distribution, so the uncompressed perplexity is
the entropy of that toy model; the compressed cache changes the attention output and with it the
perplexity. Also reports kvc's reconstruction metrics. numpy only.
"""
from dataclasses import asdict, dataclass

import numpy as np

from .. import CompressParams, compress_with_metrics, decompress, quality


@dataclass
class ValidationResult:
    """The quick test's result record; ``threshold`` and ``delta_percent`` are in percent."""

    baseline_perplexity: float
    compressed_perplexity: float
    delta: float
    delta_percent: float
    compression_ratio: float
    bits_per_element: float
    rmse: float
    snr_db: float
    cosine_similarity: float
    passed: bool
    threshold: float

    def to_dict(self):
        return asdict(self)


def synthetic_cache(layers=4, heads=4, tokens=512, head_dim=64, queries=64, seed=0):
    """(keys, values, queries) float32: [L, H, T, D], [L, H, T, D], [L, H, Q, D]."""
    rng = np.random.default_rng(seed)
    keys = rng.standard_normal((layers, heads, tokens, head_dim)).astype(np.float32)
    outliers = rng.choice(head_dim, size=max(1, head_dim // 16), replace=False)
    keys[..., outliers] *= 8.0  # a few large channels, as in real keys
    keys += rng.standard_normal((layers, heads, 1, head_dim)).astype(np.float32)  # per-channel bias
    values = rng.standard_normal((layers, heads, tokens, head_dim)).astype(np.float32)
    q = rng.standard_normal((layers, heads, queries, head_dim)).astype(np.float32)
    return keys, values, q


def _attention(q, k, v):
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    scores -= scores.max(-1, keepdims=True)
    weights = np.exp(scores)
    weights /= weights.sum(-1, keepdims=True)
    return weights @ v


def _log_probs(attn, head):
    logits = attn.reshape(attn.shape[0], attn.shape[1] * attn.shape[2], -1) @ head
    logits -= logits.max(-1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(-1, keepdims=True))


def run_quick_test(params=None, threshold=1.0, vocab=256, seed=0):
    """ValidationResult of one setting (default: kvc's defaults) on the synthetic cache;
    ``passed`` when the perplexity rises by at most ``threshold`` percent."""
    keys, values, queries = synthetic_cache(seed=seed)
    params = params if params is not None else CompressParams()
    blob, metrics = compress_with_metrics(keys, values, params)
    rec_keys, rec_values = decompress(blob, dtype="float32")
    error = quality(keys, values, rec_keys, rec_values)
    rng = np.random.default_rng(seed + 1)
    head = rng.standard_normal((keys.shape[-1], vocab)).astype(np.float32)
    base = _log_probs(_attention(queries, keys, values), head)
    comp = _log_probs(_attention(queries, rec_keys, rec_values), head)
    cumulative = np.exp(base).cumsum(-1)  # targets drawn from the uncompressed model
    draws = rng.random(cumulative.shape[:-1] + (1,))
    targets = np.minimum((cumulative < draws).sum(-1), vocab - 1)
    pick = lambda lp: np.take_along_axis(lp, targets[..., None], -1)  # noqa: E731
    base_ppl = float(np.exp(-pick(base).mean()))
    comp_ppl = float(np.exp(-pick(comp).mean()))
    delta = comp_ppl - base_ppl
    return ValidationResult(
        baseline_perplexity=base_ppl, compressed_perplexity=comp_ppl, delta=delta,
        delta_percent=100.0 * delta / base_ppl,
        compression_ratio=metrics.compression_ratio,
        bits_per_element=len(blob) * 8 / (keys.size + values.size), rmse=error.rmse,
        snr_db=error.snr_db, cosine_similarity=error.cosine,
        passed=bool(100.0 * delta / base_ppl <= threshold), threshold=threshold)
