# context.py: one context's KV cache through kvc for one setting, with or without token selection.
"""``compress_context``: the prefix cache a model left, compressed and decompressed through kvc
into the DynamicCache the model reads next. With token selection (``selection="attention"`` and
the model's queries, see kvc.hf_selection) the cache comes back scattered to its full length
(zeros where tokens were evicted) with kvc's kept-token mask, which
``SelectionAttention.evict`` turns into -inf in each layer's attention."""
from dataclasses import dataclass

import torch

from .. import SELECTIONS, compress_with_metrics, decompress, kept_mask
from ..kv_utils import cache_from_tensors, cache_tensors, compress_kv_cache, decompress_kv_cache

_KVC_DTYPE_OF = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


@dataclass
class CompressedContext:
    """The rebuilt cache, the kept mask (bool [layers, kv_heads, tokens], None without
    selection), bits per element all-in (blob bytes * 8 over the full cache's K and V elements)
    and the share of tokens kept (kvc's tokens_kept / tokens_total)."""

    cache: object
    kept: object
    bits_per_element: float
    kept_share: float


def _torch(array, dtype):
    tensor = torch.from_numpy(array)
    return tensor.view(torch.bfloat16) if dtype == torch.bfloat16 else tensor


def compress_context(prefix_cache, params, queries=None, dtype=torch.float16):
    """CompressedContext of a batch-1 DynamicCache under kvc.CompressParams ``params``; the cache
    goes to kvc as ``dtype`` and comes back in its own dtype. ``queries`` ([layers, query_heads,
    n, head_dim]) are required when ``params.selection`` is "attention"."""
    keys, values = cache_tensors(prefix_cache)
    model_dtype = keys[0].dtype
    elements = 2 * len(keys) * keys[0].numel()
    if params.selection == SELECTIONS["none"]:
        blob = compress_kv_cache(prefix_cache, params, dtype=dtype)
        return CompressedContext(decompress_kv_cache(blob, dtype=model_dtype), None,
                                 len(blob) * 8 / elements, 1.0)
    if params.selection == SELECTIONS["attention"] and queries is None:
        raise ValueError("selection 'attention' needs the model's queries")
    k = torch.stack([t.to(dtype) for t in keys]).contiguous()
    v = torch.stack([t.to(dtype) for t in values]).contiguous()
    blob, metrics = compress_with_metrics(k, v, params, queries=queries)
    rebuilt_keys, rebuilt_values = decompress(blob, dtype=_KVC_DTYPE_OF[model_dtype], scatter=True)
    cache = cache_from_tensors(_torch(rebuilt_keys, model_dtype),
                               _torch(rebuilt_values, model_dtype))
    return CompressedContext(cache, torch.from_numpy(kept_mask(blob)), len(blob) * 8 / elements,
                             metrics.tokens_kept / metrics.tokens_total)
