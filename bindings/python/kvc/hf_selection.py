# hf_selection.py: kvc token selection inside a transformers model: query capture, eviction masks.
"""``SelectionAttention``: wraps a model's attention function (sdpa or eager) through transformers'
``AttentionInterface`` so that kvc's attention-guided token selection can run on a real model.

- ``observe(n)``: while set, every attention call records the post-RoPE query states of its
  last ``n`` positions per layer; ``queries()`` returns them as ``[layers, query_heads, n,
  head_dim]``, the layout ``kvc.compress(..., queries=...)`` takes (grouped-query heads as the
  model has them). This is SnapKV's observation window: the context's newest queries score the
  context's tokens.
- ``evict(kept)``: ``kept`` is kvc's kept-token mask ``[layers, kv_heads, tokens]`` (True =
  kept, ``kvc.kept_mask(blob)``) of the first ``tokens`` cache positions. While set, each layer's
  attention adds -inf (the dtype's minimum) to the scores of the positions its KV heads evicted,
  so the layer reads only the tokens kvc kept plus every position after them (the new tokens).
  With ``kvc.decompress(blob, scatter=True)`` the cache keeps its full length, so layers that
  kept different counts still share one cache and one position numbering. ``kept`` can also be
  a function of the layer index; ``KvcCache(..., selection=hook)`` hands over its own masks so.

A layer that evicted nothing is passed to the wrapped function untouched (bit-identical results).
Needs torch and transformers >= 4.56 (AttentionInterface, AttentionMaskInterface).
"""
import sys

import torch
from transformers import AttentionInterface
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

_PREFIX = "kvc_selection_"


def _wrapped_attention(inner_name):
    """The attention function registered as kvc_selection_<inner_name>. "eager" is each model's
    own eager_attention_forward (found in the module that defines its attention class)."""
    inner = None
    if inner_name != "eager":
        inner = ALL_ATTENTION_FUNCTIONS.get_interface(inner_name, None)
        if inner is None:
            raise ValueError(f"attention implementation {inner_name!r} is not registered")

    def attention(module, query, key, value, attention_mask, **kwargs):
        hook = getattr(module, "_kvc_selection", None)
        if hook is not None:
            hook._record(module.layer_idx, query)
            attention_mask = hook._mask(module.layer_idx, query, key, attention_mask)
        function = inner or getattr(sys.modules[type(module).__module__],
                                    "eager_attention_forward")
        return function(module, query, key, value, attention_mask, **kwargs)

    return attention


def _register(inner_name):
    """Registers kvc_selection_<inner_name> (attention and mask function); returns the name."""
    name = _PREFIX + inner_name
    if name not in ALL_ATTENTION_FUNCTIONS:
        AttentionInterface.register(name, _wrapped_attention(inner_name))
    if name not in ALL_MASK_ATTENTION_FUNCTIONS:
        AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS[inner_name])
    return name


class SelectionAttention:
    """Installs the query capture and eviction masking on ``model`` (its attention modules must
    have ``layer_idx``, as transformers' Llama-family modules do). Use ``with
    SelectionAttention(model) as hook:`` or call ``close()``, which restores the model's own
    attention implementation."""

    def __init__(self, model):
        self.model = model
        self.inner = model.config._attn_implementation
        if self.inner.startswith(_PREFIX):
            raise ValueError("SelectionAttention is already installed on this model")
        self.modules = [m for m in model.modules() if hasattr(m, "layer_idx")
                        and hasattr(m, "num_key_value_groups")]
        if not self.modules:
            raise TypeError(f"{type(model).__name__}: no attention module with layer_idx")
        self.num_observed = 0
        self._queries = {}
        self._kept = None
        model.set_attn_implementation(_register(self.inner))
        for module in self.modules:
            module._kvc_selection = self

    def close(self):
        """Removes the hook and restores the wrapped attention implementation."""
        for module in self.modules:
            if getattr(module, "_kvc_selection", None) is self:
                del module._kvc_selection
        if self.model.config._attn_implementation == _PREFIX + self.inner:
            self.model.set_attn_implementation(self.inner)
        self.modules = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def observe(self, num_queries):
        """Records the last ``num_queries`` query positions of each layer from now on (0 stops
        recording); clears what was recorded."""
        if num_queries < 0:
            raise ValueError(f"num_queries {num_queries} must be >= 0")
        self.num_observed = num_queries
        self._queries = {}

    def queries(self):
        """float32 tensor [layers, query_heads, n, head_dim] of the recorded queries (batch
        entry 0), layers in layer_idx order."""
        if not self._queries:
            raise ValueError("no queries recorded: call observe(n) before running the model")
        layers = sorted(self._queries)
        if layers != list(range(len(layers))):
            raise ValueError(f"queries recorded for layers {layers}, not every layer")
        counts = {self._queries[i].shape[1] for i in layers}
        if len(counts) != 1:
            raise ValueError(f"layers recorded different query counts {sorted(counts)}")
        return torch.stack([self._queries[i] for i in layers]).float().contiguous()

    def layer_queries(self, layer):
        """The queries recorded for one layer, [query_heads, n, head_dim] float32, or None."""
        queries = self._queries.get(layer)
        return None if queries is None else queries.float().contiguous()

    def evict(self, kept):
        """Masks evicted tokens from now on: ``kept`` is a bool array or tensor [layers, kv_heads,
        tokens] (True = kept) of the first ``tokens`` cache positions, or a function of the
        layer index giving that layer's [kv_heads, tokens] mask (or None: nothing evicted), as
        KvcCache.kept_mask does; None stops masking."""
        if kept is None or callable(kept):
            self._kept = kept
            return
        kept = torch.as_tensor(kept, dtype=torch.bool)
        if kept.dim() != 3 or kept.shape[0] != len(self.modules):
            raise ValueError(f"kept mask of shape {tuple(kept.shape)} is not [layers "
                             f"{len(self.modules)}, kv_heads, tokens]")
        self._kept = kept

    def _record(self, layer, query):
        if not self.num_observed:
            return
        new = query[0, :, -self.num_observed:, :].detach()
        old = self._queries.get(layer)
        if old is not None and new.shape[1] < self.num_observed:  # decoding step by step
            new = torch.cat([old, new], dim=1)[:, -self.num_observed:, :]
        self._queries[layer] = new.clone()

    def _mask(self, layer, query, key, attention_mask):
        """attention_mask with the layer's evicted positions set to the dtype's minimum; the
        mask itself when the layer evicted nothing."""
        kept = self._kept(layer) if callable(self._kept) else \
            None if self._kept is None else self._kept[layer]
        if kept is None:
            return attention_mask
        kept = torch.as_tensor(kept, dtype=torch.bool).to(query.device)  # [kv_heads, tokens]
        if bool(kept.all()):
            return attention_mask
        heads, tokens = kept.shape
        q_len, kv_len = query.shape[2], key.shape[2]
        if kv_len < tokens:
            raise ValueError(f"layer {layer}: {kv_len} cached positions, fewer than the "
                             f"{tokens} the kept mask covers")
        if query.shape[1] % heads:
            raise ValueError(f"layer {layer}: {query.shape[1]} query heads are not a multiple of "
                             f"the mask's {heads} kv heads")
        if bool((kept == kept[:1]).all()):
            kept = kept[:1]  # one set of tokens for every head
        else:
            kept = kept.repeat_interleave(query.shape[1] // heads, dim=0)
        allowed = torch.ones(kept.shape[0], kv_len, dtype=torch.bool, device=query.device)
        allowed[:, :tokens] = kept
        lowest = torch.finfo(query.dtype).min
        bias = torch.zeros(allowed.shape, dtype=query.dtype, device=query.device)
        bias.masked_fill_(~allowed, lowest)
        bias = bias[None, :, None, :]  # [1, heads, 1, kv_len]
        if attention_mask is None:
            if q_len == 1:
                return bias
            # no mask means causal: query i sits at position kv_len - q_len + i
            rows = torch.arange(q_len, device=query.device)[:, None] + (kv_len - q_len)
            causal = rows >= torch.arange(kv_len, device=query.device)[None, :]
            attention_mask = causal[None, None]
        if attention_mask.dtype == torch.bool:
            base = torch.zeros(attention_mask.shape, dtype=query.dtype, device=query.device)
            base.masked_fill_(~attention_mask, lowest)
        else:
            base = attention_mask.to(query.dtype)
        return (base[..., :kv_len] + bias).clamp(min=lowest)


__all__ = ["SelectionAttention"]
