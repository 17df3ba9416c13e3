# Load a Llama-architecture GGUF model into numpy fp32 arrays and run its forward pass (KV-cache extraction).
"""Minimal numpy implementation of the Llama forward pass for GGUF models.

Conventions (checked against llama.cpp's LLM_ARCH_LLAMA graph):

* Weights: a gguf tensor with ggml shape ``ne = [n_in, n_out]`` comes out of ``gguf`` as a numpy array
  of shape ``(n_out, n_in)`` (ne reversed), so a linear layer is ``y = x @ W.T``.
* RoPE: llama.cpp's HF->GGUF converter permutes the rows of ``attn_q``/``attn_k`` inside every head so
  that the "normal" (non-NeoX) rope mode of llama.cpp can be used: the pairs that are rotated together
  are the adjacent dims ``(x[2i], x[2i+1])`` with angle ``pos * base**(-2i/n_rot)``.  llama2.c models
  (stories260K) use that layout natively and are not permuted.  We compute in that GGUF layout.
  The equivalent Hugging Face ("rotate_half") layout pairs dims ``(i, i + d/2)``; it is obtained from
  the GGUF layout by ``hf = concat(x[..., 0::2], x[..., 1::2])`` (see :func:`to_hf_rope_layout`).
  Q.K dot products are identical in both layouts.
* GQA: query head ``h`` attends with KV head ``h // (n_head // n_head_kv)`` (llama.cpp broadcast and
  HF ``repeat_kv`` agree).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import numpy as np

__all__ = [
    "LlamaConfig",
    "LlamaModel",
    "KVCache",
    "ForwardResult",
    "load_model",
    "forward",
    "generate_greedy",
    "perplexity",
    "to_hf_rope_layout",
]


@dataclasses.dataclass
class LlamaConfig:
    arch: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    n_ctx_train: int
    rope_base: float
    n_rot: int
    rms_eps: float
    name: str = ""


def _field(reader, key, default=None):
    f = reader.fields.get(key)
    if f is None:
        return default
    try:
        return f.contents()
    except AttributeError:  # very old gguf-py: decode by hand
        v = [f.parts[i] for i in f.data]
        if len(v) == 1:
            v = v[0]
            if v.dtype == np.uint8:
                return bytes(v).decode("utf-8")
            return v.item() if v.size == 1 else v.tolist()
        return [bytes(x).decode("utf-8") if x.dtype == np.uint8 else x.item() for x in v]


class LlamaModel:
    """Dequantised fp32 weights + config + raw GGUF metadata reader (for the tokenizer)."""

    def __init__(self, path: str):
        import gguf  # PyPI package "gguf"
        from gguf.quants import dequantize

        self.path = path
        reader = gguf.GGUFReader(path)
        self.reader = reader
        arch = _field(reader, "general.architecture", "llama")
        if arch != "llama":
            raise ValueError(f"{path}: architecture {arch!r} is not 'llama'")
        p = arch + "."
        tensors = {t.name: t for t in reader.tensors}

        def W(name):
            t = tensors[name]
            a = dequantize(t.data, t.tensor_type)
            a = np.asarray(a, dtype=np.float32)
            expect = tuple(int(x) for x in reversed(t.shape.tolist()))
            # gguf returns numpy shape = ggml ne reversed; 1-D tensors stay 1-D.
            a = a.reshape(expect) if a.shape != expect else a
            return np.ascontiguousarray(a)

        n_embd = int(_field(reader, p + "embedding_length"))
        n_head = int(_field(reader, p + "attention.head_count"))
        n_head_kv = int(_field(reader, p + "attention.head_count_kv", n_head))
        head_dim = int(_field(reader, p + "attention.key_length", n_embd // n_head))
        tok_embd = W("token_embd.weight")  # (n_vocab, n_embd)
        cfg = LlamaConfig(
            arch=arch,
            n_layer=int(_field(reader, p + "block_count")),
            n_embd=n_embd,
            n_head=n_head,
            n_head_kv=n_head_kv,
            head_dim=head_dim,
            n_ff=int(_field(reader, p + "feed_forward_length")),
            n_vocab=int(tok_embd.shape[0]),
            n_ctx_train=int(_field(reader, p + "context_length", 2048)),
            rope_base=float(_field(reader, p + "rope.freq_base", 10000.0)),
            n_rot=int(_field(reader, p + "rope.dimension_count", head_dim)),
            rms_eps=float(_field(reader, p + "attention.layer_norm_rms_epsilon", 1e-5)),
            name=str(_field(reader, "general.name", os.path.basename(path))),
        )
        if _field(reader, p + "rope.scaling.type") not in (None, "none"):
            raise NotImplementedError("rope scaling is not supported")
        if cfg.n_rot % 2 or cfg.n_rot > head_dim:
            raise ValueError(f"bad rope dimension count {cfg.n_rot}")
        self.cfg = cfg
        self.tok_embd = tok_embd
        # Tied embeddings: no output.weight -> the LM head is token_embd (llama.cpp does the same).
        self.tied_embeddings = "output.weight" not in tensors
        self.output = tok_embd if self.tied_embeddings else W("output.weight")
        self.output_norm = W("output_norm.weight")
        qd, kvd = n_head * head_dim, n_head_kv * head_dim
        self.layers = []
        for i in range(cfg.n_layer):
            b = f"blk.{i}."
            wq, wk, wv = W(b + "attn_q.weight"), W(b + "attn_k.weight"), W(b + "attn_v.weight")
            assert wq.shape == (qd, n_embd) and wk.shape == (kvd, n_embd) and wv.shape == (kvd, n_embd), (
                wq.shape, wk.shape, wv.shape)
            wg, wu = W(b + "ffn_gate.weight"), W(b + "ffn_up.weight")
            self.layers.append(dict(
                attn_norm=W(b + "attn_norm.weight"),
                # fused projections, stored transposed (n_in, n_out) for x @ W
                wqkv=np.ascontiguousarray(np.concatenate([wq, wk, wv], 0).T),
                wo=np.ascontiguousarray(W(b + "attn_output.weight").T),
                ffn_norm=W(b + "ffn_norm.weight"),
                wgu=np.ascontiguousarray(np.concatenate([wg, wu], 0).T),
                wdown=np.ascontiguousarray(W(b + "ffn_down.weight").T),
            ))
        # RoPE inverse frequencies for the adjacent-pair ("normal") mode.
        self.inv_freq = (cfg.rope_base ** (-np.arange(0, cfg.n_rot, 2, dtype=np.float64) / cfg.n_rot))

    def metadata(self, key, default=None):
        return _field(self.reader, key, default)


def load_model(path: str) -> LlamaModel:
    return LlamaModel(path)


class KVCache:
    """Per-layer K (post-RoPE) and V, each [n_head_kv, capacity, head_dim] fp32, GGUF rope layout."""

    def __init__(self, cfg: LlamaConfig, capacity: int):
        self.capacity = capacity
        self.length = 0
        shape = (cfg.n_head_kv, capacity, cfg.head_dim)
        self.k = [np.zeros(shape, np.float32) for _ in range(cfg.n_layer)]
        self.v = [np.zeros(shape, np.float32) for _ in range(cfg.n_layer)]

    def keys(self, layer):
        return self.k[layer][:, : self.length]

    def values(self, layer):
        return self.v[layer][:, : self.length]


@dataclasses.dataclass
class ForwardResult:
    logits: Optional[np.ndarray]  # [T, n_vocab] ('all'), [1, n_vocab] ('last') or None
    keys: list  # per layer [n_head_kv, total_len, head_dim], post-RoPE (views into the cache)
    values: list  # per layer [n_head_kv, total_len, head_dim]
    queries: Optional[list]  # per layer [n_head, N, head_dim] post-RoPE, last N positions of this call


def _rms_norm(x, w, eps):
    ms = np.mean(np.square(x, dtype=np.float32), axis=-1, keepdims=True)
    return (x / np.sqrt(ms + eps)) * w


def _rope(x, pos, inv_freq, n_rot):
    """Rotate adjacent pairs (x[2i], x[2i+1]) of the first n_rot dims. x: [H, T, D]; pos: [T]."""
    ang = pos[:, None].astype(np.float64) * inv_freq[None, :]  # [T, n_rot/2]
    cos = np.cos(ang).astype(np.float32)
    sin = np.sin(ang).astype(np.float32)
    x0 = x[..., 0:n_rot:2]
    x1 = x[..., 1:n_rot:2]
    out = x.copy()
    out[..., 0:n_rot:2] = x0 * cos - x1 * sin
    out[..., 1:n_rot:2] = x0 * sin + x1 * cos
    return out


def _silu(x):
    return x / (1.0 + np.exp(-x))


def forward(model: LlamaModel, tokens, cache: Optional[KVCache] = None, logits: str = "all",
            n_queries: int = 0) -> ForwardResult:
    """Run tokens through the model, appending their K/V to ``cache`` (a fresh one if None).

    The new tokens get positions ``cache.length ... cache.length + T - 1`` and attend causally to
    everything in the cache plus themselves.  ``logits``: 'all' | 'last' | 'none'.
    ``n_queries``: also return the last N post-RoPE query vectors per layer.
    """
    cfg = model.cfg
    tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
    T = tokens.shape[0]
    if cache is None:
        cache = KVCache(cfg, T)
    start = cache.length
    end = start + T
    if end > cache.capacity:
        raise ValueError(f"cache capacity {cache.capacity} < {end}")
    H, Hkv, D = cfg.n_head, cfg.n_head_kv, cfg.head_dim
    G = H // Hkv
    qd, kvd = H * D, Hkv * D
    pos = np.arange(start, end)
    scale = np.float32(1.0 / np.sqrt(D))
    # causal mask for the new block against [0, end): query t (abs pos start+t) sees keys <= start+t
    bias = np.where(np.arange(end)[None, :] > pos[:, None], np.float32(-np.inf), np.float32(0))  # [T, end]
    x = model.tok_embd[tokens]  # [T, n_embd]
    queries = [] if n_queries else None
    for li, L in enumerate(model.layers):
        h = _rms_norm(x, L["attn_norm"], cfg.rms_eps)
        qkv = h @ L["wqkv"]  # [T, qd + 2 kvd]
        q = qkv[:, :qd].reshape(T, H, D).transpose(1, 0, 2)
        k = qkv[:, qd:qd + kvd].reshape(T, Hkv, D).transpose(1, 0, 2)
        v = qkv[:, qd + kvd:].reshape(T, Hkv, D).transpose(1, 0, 2)
        q = _rope(q, pos, model.inv_freq, cfg.n_rot)
        k = _rope(k, pos, model.inv_freq, cfg.n_rot)
        cache.k[li][:, start:end] = k
        cache.v[li][:, start:end] = v
        if queries is not None:
            queries.append(np.ascontiguousarray(q[:, max(0, T - n_queries):]))
        K = cache.k[li][:, :end]  # [Hkv, S, D]
        V = cache.v[li][:, :end]
        qg = q.reshape(Hkv, G, T, D) * scale
        s = np.matmul(qg, K[:, None].transpose(0, 1, 3, 2))  # [Hkv, G, T, S]
        s += bias
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        o = np.matmul(s, V[:, None])  # [Hkv, G, T, D]
        o = o.reshape(H, T, D).transpose(1, 0, 2).reshape(T, qd)
        x = x + o @ L["wo"]
        h = _rms_norm(x, L["ffn_norm"], cfg.rms_eps)
        gu = h @ L["wgu"]
        x = x + (_silu(gu[:, :cfg.n_ff]) * gu[:, cfg.n_ff:]) @ L["wdown"]
    cache.length = end
    out_logits = None
    if logits != "none":
        xs = x if logits == "all" else x[-1:]
        xs = _rms_norm(xs, model.output_norm, cfg.rms_eps)
        out_logits = xs @ model.output.T
    return ForwardResult(
        logits=out_logits,
        keys=[cache.keys(i) for i in range(cfg.n_layer)],
        values=[cache.values(i) for i in range(cfg.n_layer)],
        queries=queries,
    )


def generate_greedy(model: LlamaModel, prompt_tokens, n_new: int, stop_token: Optional[int] = None):
    """Greedy decoding with an incremental KV cache. Returns the list of new token ids."""
    prompt_tokens = list(prompt_tokens)
    cache = KVCache(model.cfg, len(prompt_tokens) + n_new)
    res = forward(model, prompt_tokens, cache, logits="last")
    out = []
    for _ in range(n_new):
        nxt = int(np.argmax(res.logits[-1]))
        out.append(nxt)
        if stop_token is not None and nxt == stop_token:
            break
        if len(out) == n_new:
            break
        res = forward(model, [nxt], cache, logits="last")
    return out


def _log_softmax(z):
    z = z.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def perplexity(model: LlamaModel, tokens) -> tuple[float, float, int]:
    """Next-token perplexity over one window: tokens[1:] predicted from their prefixes.

    Returns (ppl, mean_nll, n_predicted).  The first token (BOS when the model uses one) is context only.
    """
    tokens = np.asarray(tokens, dtype=np.int64)
    res = forward(model, tokens, logits="all")
    lp = _log_softmax(res.logits[:-1])
    nll = -lp[np.arange(len(tokens) - 1), tokens[1:]]
    mean = float(nll.mean())
    return float(np.exp(mean)), mean, int(nll.size)


def to_hf_rope_layout(x: np.ndarray, n_rot: Optional[int] = None) -> np.ndarray:
    """GGUF (adjacent-pair RoPE) layout -> Hugging Face rotate_half layout along the last axis.

    Undoes llama.cpp's convert_hf_to_gguf ``permute`` of Q/K rows: hf[..., :r/2] = x[..., 0:r:2],
    hf[..., r/2:r] = x[..., 1:r:2]; dims beyond n_rot (partial rotary) are left in place.
    """
    D = x.shape[-1]
    r = D if n_rot is None else n_rot
    return np.concatenate([x[..., 0:r:2], x[..., 1:r:2], x[..., r:]], axis=-1)
