#!/usr/bin/env python3
# Accuracy per bit on real KV caches: kvc vs llama.cpp's KV-cache quant types vs a KIVI-style reference.
"""Measure accuracy per bit of KV-cache compression on the real caches in build/data/.

Usage:
    .venv/bin/python scripts/eval/accuracy_per_bit.py [--cli build/kvc] [--data build/data]
        [--model smollm2|stories260K|all] [--quick] [--json PATH]

Methods (one table row each):

* ``kvc``: ``kvc compress --bits B --group-size G [--recent-tokens R] --json --no-verify`` then
  ``kvc decompress --dtype float32``; bits per element = the CLI's ``bits_per_element`` (every byte of the
  blob, K and V together).  Full grid: B in 2/3/4/8 x G in 32/64/128, 4-bit g64 with --recent-tokens 32,
  and --bits 16 (lossless).
* ``llama.cpp``: llama.cpp's KV-cache types (Q8_0, Q5_1, Q5_0, Q4_1, Q4_0, plus F16/BF16), reproduced with
  the ``gguf`` package's numpy reference quantizers.  Layout as llama.cpp stores the cache: one row per
  token of ``kv_heads * head_dim`` contiguous elements, quantized in blocks of 32 along that row, for K and
  for V (the V cache is stored per token like K when flash attention is on (-fa); without -fa llama.cpp
  stores V transposed, i.e. blocks of 32 consecutive *tokens* per channel -- not modelled here).  Keys are
  put back into llama.cpp's (GGUF, adjacent-pair RoPE) dim order within each head before quantizing, since
  that decides which 32 dims share a block scale (``--ggml-key-layout hf`` quantizes the saved HF order
  instead).  Bits per element = block bytes * 8 / 32 (Q4_0 = 4.5), no entropy coding.  IQ4_NL (also a
  llama.cpp cache type) is skipped when the installed gguf cannot quantize it.
* ``kivi-ref``: KIVI-style quantization in numpy, no entropy coding: keys per channel (groups of G
  consecutive tokens), values per token (groups of min(G, head_dim) along head_dim), asymmetric min/max,
  fp16 scale and zero -- the same scheme kvc documents, minus Zstandard, to show what the entropy stage adds.
  Bits = B + 32/G (keys) and B + 32/min(G, head_dim) (values), averaged.

Metrics (all against the original fp16 cache as float32):

* key / value cosine similarity over the whole cache (all layers flattened), key / value SNR in dB
  (10 log10 sum x^2 / sum (x - x_hat)^2; ``inf`` for an exact reconstruction, null in the JSON);
* attention with the saved queries (the last N positions, post-RoPE, HF dim order like the saved keys):
  for every layer, query head (GQA: q head j reads kv head j // (q_heads / kv_heads)) and query n at
  position T-N+n, p = softmax(q . K[:T-N+n+1]^T / sqrt(head_dim)) and o = p . V.  Reported, averaged over all
  layers / heads / queries: relative L2 error ||o_hat - o|| / ||o||, KL(p || p_hat) in nats, and top-1
  agreement (argmax p_hat == argmax p).

Output: a markdown table per model on stdout, sorted by method then bits per element, and with --json PATH
the same rows as JSON.  Needs only numpy, gguf and the standard library.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts" / "kvcache"))

import safetensors_io as S  # noqa: E402

MODELS = {"smollm2": "smollm2-135m", "stories260K": "stories260K"}

# --------------------------------------------------------------------------------------------- grids

KVC_FULL = ([(b, g, 0) for b in (2, 3, 4, 8) for g in (32, 64, 128)] + [(4, 64, 32), (16, 64, 0)])
KVC_QUICK = [(2, 64, 0), (4, 64, 0), (8, 64, 0), (16, 64, 0)]
GGML_FULL = ["Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0", "IQ4_NL", "F16", "BF16"]
GGML_QUICK = ["Q8_0", "Q4_0"]
KIVI_FULL = [(b, g) for b in (2, 4) for g in (32, 128)]
KIVI_QUICK = [(4, 64)]

METRIC_KEYS = ["bits_per_element", "key_cosine", "value_cosine", "key_snr_db", "value_snr_db",
               "attn_rel_err", "attn_kl", "attn_top1"]


# --------------------------------------------------------------------------------------------- data


def load_model(data_dir: Path, stem: str):
    """(K, V, Q, meta): K, V float32 [L, H, T, D]; Q float32 [L, Hq, N, D]."""
    cache = data_dir / f"{stem}.safetensors"
    keys, values, meta = S.read_kv_cache(str(cache))
    K = np.stack([np.asarray(k[0], dtype=np.float32) for k in keys])
    V = np.stack([np.asarray(v[0], dtype=np.float32) for v in values])
    qt, _ = S.read_safetensors(S.queries_path(str(cache)))
    Q = np.stack([np.asarray(qt[f"layer_{i}_query"][0], dtype=np.float32) for i in range(K.shape[0])])
    if Q.shape[1] % K.shape[1] or Q.shape[3] != K.shape[3] or Q.shape[2] > K.shape[2]:
        raise ValueError(f"{stem}: query shape {Q.shape} does not fit cache shape {K.shape}")
    return K, V, Q, meta


def read_decompressed(path: str, L: int):
    t, _ = S.read_safetensors(path)
    K = np.stack([np.asarray(t[f"layer_{i}_key"][0], dtype=np.float32) for i in range(L)])
    V = np.stack([np.asarray(t[f"layer_{i}_value"][0], dtype=np.float32) for i in range(L)])
    return K, V


# --------------------------------------------------------------------------------------------- metrics


def _log_softmax_scores(Q: np.ndarray, K: np.ndarray):
    """Causal log-softmax of q.K^T/sqrt(D) for one layer: Q [H, G, N, D], K [H, T, D] -> [H, G, N, T] f64."""
    H, G, N, D = Q.shape
    T = K.shape[1]
    s = np.matmul(Q.reshape(H, G * N, D), K.transpose(0, 2, 1)).reshape(H, G, N, T).astype(np.float64)
    s *= 1.0 / math.sqrt(D)
    pos = T - N + np.arange(N)
    mask = np.arange(T)[None, :] > pos[:, None]  # [N, T], True = future token
    s[..., mask] = -np.inf
    m = s.max(axis=-1, keepdims=True)
    s -= m
    lse = np.log(np.exp(s).sum(axis=-1, keepdims=True))
    return s - lse, mask


class Reference:
    """Exact attention (per layer) for the original cache, reused for every method."""

    def __init__(self, K, V, Q):
        self.L, self.H, self.T, self.D = K.shape
        self.Hq, self.N = Q.shape[1], Q.shape[2]
        self.G = self.Hq // self.H
        self.Q = Q.reshape(self.L, self.H, self.G, self.N, self.D)  # q head j -> kv head j // G
        self.K, self.V = K, V
        self.logp, self.o, self.top1 = [], [], []
        for li in range(self.L):
            logp, self.mask = _log_softmax_scores(self.Q[li], K[li])
            p = np.exp(logp)
            self.logp.append(logp)
            self.o.append(self._out(p, V[li]))
            self.top1.append(logp.argmax(axis=-1))
        self.k_energy = float(sum(np.square(K[i], dtype=np.float64).sum() for i in range(self.L)))
        self.v_energy = float(sum(np.square(V[i], dtype=np.float64).sum() for i in range(self.L)))

    def _out(self, p, V):
        H, G, N, T = p.shape
        return np.matmul(p.reshape(H, G * N, T), V.astype(np.float64)).reshape(H, G, N, self.D)

    def evaluate(self, Kh, Vh):
        out = {}
        for name, X, Xh, energy in (("key", self.K, Kh, self.k_energy), ("value", self.V, Vh, self.v_energy)):
            dot = err = eh = 0.0
            for i in range(self.L):
                x = X[i].astype(np.float64).ravel()
                xh = Xh[i].astype(np.float64).ravel()
                dot += float(x @ xh)
                eh += float(xh @ xh)
                d = x - xh
                err += float(d @ d)
            out[f"{name}_cosine"] = dot / math.sqrt(energy * eh) if energy > 0 and eh > 0 else float("nan")
            out[f"{name}_snr_db"] = 10.0 * math.log10(energy / err) if err > 0 else float("inf")
        rel, kl, top1 = [], [], []
        for li in range(self.L):
            logq, _ = _log_softmax_scores(self.Q[li], Kh[li])
            logp = self.logp[li]
            p = np.exp(logp)
            with np.errstate(invalid="ignore"):
                diff = np.where(self.mask, 0.0, logp - logq)  # masked: p = 0, 0 * log 0 := 0
            kl.append((p * diff).sum(axis=-1).ravel())
            o = self.o[li]
            oh = self._out(np.exp(logq), Vh[li])
            rel.append((np.linalg.norm(oh - o, axis=-1) / np.linalg.norm(o, axis=-1)).ravel())
            top1.append((logq.argmax(axis=-1) == self.top1[li]).ravel())
        out["attn_rel_err"] = float(np.concatenate(rel).mean())
        out["attn_kl"] = float(np.concatenate(kl).mean())
        out["attn_top1"] = float(np.concatenate(top1).mean())
        return out


# --------------------------------------------------------------------------------------------- methods


def run_kvc(cli: str, cache: Path, tmp: str, L: int, bits: int, group: int, recent: int):
    blob = os.path.join(tmp, "c.kvc")
    dec = os.path.join(tmp, "d.safetensors")
    cmd = [cli, "compress", str(cache), "-o", blob, "--bits", str(bits), "--group-size", str(group),
           "--recent-tokens", str(recent), "--no-verify", "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    info = json.loads(r.stdout)
    cmd = [cli, "decompress", blob, "-o", dec, "--dtype", "float32"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stdout}{r.stderr}")
    Kh, Vh = read_decompressed(dec, L)
    extra = {"compressed_size_bytes": int(info["compressed_size_bytes"]),
             "original_size_bytes": int(info["original_size_bytes"])}
    return Kh, Vh, float(info["bits_per_element"]), extra


def hf_to_gguf_order(x: np.ndarray) -> np.ndarray:
    """HF rotate_half dim order -> llama.cpp adjacent-pair order: g[2i] = h[i], g[2i+1] = h[i + D/2]."""
    D = x.shape[-1]
    return np.stack([x[..., : D // 2], x[..., D // 2:]], axis=-1).reshape(x.shape)


def gguf_to_hf_order(x: np.ndarray) -> np.ndarray:
    return np.concatenate([x[..., 0::2], x[..., 1::2]], axis=-1)


def _gguf_version() -> str:
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:  # noqa: BLE001 - only used in a message
        return "?"


def ggml_supported(name: str):
    """(GGMLQuantizationType, block_size, type_size) or None when gguf cannot quantize this type."""
    import gguf
    import gguf.quants
    from gguf.constants import GGML_QUANT_SIZES
    qt = getattr(gguf.GGMLQuantizationType, name, None)
    if qt is None:
        return None
    bs, ts = GGML_QUANT_SIZES[qt]
    try:
        gguf.quants.dequantize(gguf.quants.quantize(np.zeros((1, bs), np.float32), qt), qt)
    except NotImplementedError:
        return None
    return qt, bs, ts


def ggml_roundtrip(X: np.ndarray, qt) -> np.ndarray:
    """llama.cpp cache layout: X [L, H, T, D] -> rows [L, T, H*D] quantized in blocks along the row."""
    import gguf.quants
    L, H, T, D = X.shape
    rows = np.ascontiguousarray(X.transpose(0, 2, 1, 3).reshape(L * T, H * D), dtype=np.float32)
    deq = gguf.quants.dequantize(gguf.quants.quantize(rows, qt), qt).reshape(L, T, H, D)
    return np.ascontiguousarray(deq.transpose(0, 2, 1, 3), dtype=np.float32)


def run_ggml(K, V, name, key_layout_gguf: bool):
    sup = ggml_supported(name)
    if sup is None:
        return None
    qt, bs, ts = sup
    H, D = K.shape[1], K.shape[3]
    if (H * D) % bs:
        raise ValueError(f"{name}: row of {H * D} elements is not a multiple of the block size {bs}")
    if key_layout_gguf:
        Kh = gguf_to_hf_order(ggml_roundtrip(hf_to_gguf_order(K), qt))
    else:
        Kh = ggml_roundtrip(K, qt)
    Vh = ggml_roundtrip(V, qt)
    return Kh, Vh, ts * 8.0 / bs, {"block_size": bs, "block_bytes": ts}


def _minmax_quant(x: np.ndarray, bits: int, axis: int, group: int) -> np.ndarray:
    """Asymmetric min/max quantization in groups of `group` along `axis`; fp16 scale and zero."""
    x = np.moveaxis(x, axis, -1)
    n = x.shape[-1]
    pad = (-n) % group
    xp = np.concatenate([x, np.repeat(x[..., -1:], pad, axis=-1)], axis=-1) if pad else x
    g = xp.reshape(*xp.shape[:-1], -1, group)
    lo = g.min(axis=-1, keepdims=True)
    hi = g.max(axis=-1, keepdims=True)
    qmax = (1 << bits) - 1
    scale = ((hi - lo) / qmax).astype(np.float16).astype(np.float32)
    zero = lo.astype(np.float16).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0)
    q = np.clip(np.rint((g - zero) / safe), 0, qmax)
    y = (q * scale + zero).reshape(xp.shape)[..., :n]
    return np.ascontiguousarray(np.moveaxis(y, -1, axis), dtype=np.float32)


def run_kivi(K, V, bits: int, group: int):
    D = K.shape[3]
    vg = min(group, D)
    Kh = _minmax_quant(K, bits, axis=2, group=group)  # per channel, groups of tokens
    Vh = _minmax_quant(V, bits, axis=3, group=vg)     # per token, groups along head_dim
    kb = bits + 32.0 / group
    vb = bits + 32.0 / vg
    return Kh, Vh, (kb + vb) / 2.0, {"key_bits_per_element": kb, "value_bits_per_element": vb}


# --------------------------------------------------------------------------------------------- driver


def evaluate_model(model: str, args) -> list:
    stem = MODELS[model]
    data = Path(args.data)
    cache = data / f"{stem}.safetensors"
    t0 = time.perf_counter()
    K, V, Q, meta = load_model(data, stem)
    ref = Reference(K, V, Q)
    L = K.shape[0]
    rows = []

    def add(method, config, res, params):
        Kh, Vh, bpe, extra = res
        m = ref.evaluate(Kh, Vh)
        row = {"model": stem, "method": method, "config": config, "bits_per_element": bpe, **m,
               "params": params, **extra}
        rows.append(row)
        if args.verbose:
            print(f"  {stem} {method} {config}: {bpe:.3f} b/e, attn err {m['attn_rel_err']:.4g}",
                  file=sys.stderr, flush=True)

    quick = args.quick
    with tempfile.TemporaryDirectory(prefix="kvc_apb_") as tmp:
        for bits, group, recent in (KVC_QUICK if quick else KVC_FULL):
            cfg = "lossless" if bits == 16 else f"{bits}-bit g{group}" + (f" r{recent}" if recent else "")
            add("kvc", cfg, run_kvc(args.cli, cache, tmp, L, bits, group, recent),
                {"bits": bits, "group_size": group, "recent_tokens": recent})
    for name in (GGML_QUICK if quick else GGML_FULL):
        res = run_ggml(K, V, name, args.ggml_key_layout == "gguf")
        if res is None:
            print(f"note: gguf {_gguf_version()} cannot quantize {name}; row skipped", file=sys.stderr)
            continue
        add("llama.cpp", name.lower() if name in ("F16", "BF16") else name, res,
            {"type": name, "layout": "per-token rows of kv_heads*head_dim, blocks along the row",
             "key_dim_order": args.ggml_key_layout})
    for bits, group in (KIVI_QUICK if quick else KIVI_FULL):
        add("kivi-ref", f"{bits}-bit g{group}", run_kivi(K, V, bits, group),
            {"bits": bits, "group_size": group, "value_group_size": min(group, K.shape[3])})
    rows.sort(key=lambda r: (r["method"], r["bits_per_element"], r["config"]))
    if args.verbose:
        print(f"{stem}: {len(rows)} rows in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    shape = {"layers": int(K.shape[0]), "kv_heads": int(K.shape[1]), "tokens": int(K.shape[2]),
             "head_dim": int(K.shape[3]), "q_heads": int(Q.shape[1]), "queries": int(Q.shape[2])}
    return rows, shape


def _fmt(v, spec):
    if v is None:
        return "-"
    if isinstance(v, float) and math.isinf(v):
        return "inf"
    return format(v, spec)


def markdown(model: str, shape: dict, rows: list) -> str:
    head = (f"### {model} ({shape['layers']} layers, {shape['kv_heads']} kv heads, {shape['tokens']} tokens, "
            f"head_dim {shape['head_dim']}; {shape['q_heads']} q heads x last {shape['queries']} queries)\n\n")
    cols = ["method", "config", "bits/elem", "K cos", "V cos", "K SNR dB", "V SNR dB",
            "attn rel err", "attn KL", "top-1 agree"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(cols) - 2)) + "|"]
    for r in rows:
        lines.append("| " + " | ".join([
            r["method"], r["config"], _fmt(r["bits_per_element"], ".3f"), _fmt(r["key_cosine"], ".6f"),
            _fmt(r["value_cosine"], ".6f"), _fmt(r["key_snr_db"], ".2f"), _fmt(r["value_snr_db"], ".2f"),
            _fmt(r["attn_rel_err"], ".3e"), _fmt(r["attn_kl"], ".3e"), _fmt(r["attn_top1"], ".4f")]) + " |")
    return head + "\n".join(lines) + "\n"


def _json_safe(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cli", default=str(REPO / "build" / "kvc"), help="kvc executable (default build/kvc)")
    ap.add_argument("--data", default=str(REPO / "build" / "data"), help="directory of the caches (default build/data)")
    ap.add_argument("--model", choices=["smollm2", "stories260K", "all"], default="all")
    ap.add_argument("--quick", action="store_true", help="small subset of rows (for tests)")
    ap.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    ap.add_argument("--ggml-key-layout", choices=["gguf", "hf"], default="gguf",
                    help="dim order of keys inside a head for the llama.cpp types: gguf = as llama.cpp stores "
                         "them (adjacent RoPE pairs, default), hf = the saved rotate_half order")
    ap.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = ap.parse_args(argv)
    if not (os.path.isfile(args.cli) and os.access(args.cli, os.X_OK)):
        ap.error(f"kvc CLI not found or not executable: {args.cli}")
    models = list(MODELS) if args.model == "all" else [args.model]
    t0 = time.perf_counter()
    doc = {"tool": "scripts/eval/accuracy_per_bit.py", "cli": args.cli, "data": args.data, "quick": args.quick,
           "ggml_key_layout": args.ggml_key_layout, "models": {}, "rows": []}
    out = []
    for m in models:
        rows, shape = evaluate_model(m, args)
        doc["models"][MODELS[m]] = shape
        doc["rows"].extend(rows)
        out.append(markdown(MODELS[m], shape, rows))
    doc["elapsed_s"] = time.perf_counter() - t0
    print("\n".join(out), end="")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(_json_safe(doc), f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
