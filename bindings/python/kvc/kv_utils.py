# kv_utils.py: transformers KV caches: extract, save/load, check against an adapter, stats.
"""Utilities between transformers caches and kvc (torch and transformers >= 4.56 needed).

A cache here is either a transformers ``DynamicCache`` or a pair of ``[layers, kv_heads, tokens,
head_dim]`` tensors. Files use the layout of the C++ side and the CLI: safetensors tensors
``layer_{i}_key`` / ``layer_{i}_value`` of shape ``[1, kv_heads, tokens, head_dim]`` plus the
``<stem>.metadata.json`` sidecar (written and read by ``kvc.save_cache`` / ``kvc.load_cache``).
"""
from dataclasses import asdict, dataclass

import numpy as np
import torch
from transformers import DynamicCache

from . import compress, decompress, load_cache, save_cache

_KVC_DTYPE_OF = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


@dataclass
class KVCacheMetadata:
    """Shape and origin of one cache (batch 1)."""

    num_layers: int
    num_kv_heads: int
    seq_len: int
    head_dim: int
    dtype: str
    model_name: str = ""

    def to_dict(self):
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


def cache_tensors(cache):
    """(keys, values): lists of per-layer [kv_heads, tokens, head_dim] tensors (views, no copy)
    of a batch-1 DynamicCache."""
    keys, values = [], []
    for index, layer in enumerate(cache.layers):
        if layer.keys is None or layer.keys.dim() != 4:
            raise ValueError(f"layer {index} of the cache is empty")
        if layer.keys.shape[0] != 1:
            raise ValueError(f"batch size {layer.keys.shape[0]} (layer {index}): kvc caches "
                             "hold one sequence")
        keys.append(layer.keys[0])
        values.append(layer.values[0])
    if not keys:
        raise ValueError("the cache is empty")
    return keys, values


def cache_from_tensors(keys, values):
    """A DynamicCache holding per-layer [kv_heads, tokens, head_dim] tensors (or [L, H, T, D])."""
    cache = DynamicCache()
    for index, (k, v) in enumerate(zip(keys, values)):
        cache.update(k.unsqueeze(0), v.unsqueeze(0), index)
    return cache


def metadata_of(cache, model_name=""):
    """KVCacheMetadata of a batch-1 DynamicCache."""
    keys, _ = cache_tensors(cache)
    heads, tokens, head_dim = keys[0].shape
    return KVCacheMetadata(len(keys), heads, tokens, head_dim,
                           str(keys[0].dtype).replace("torch.", ""), model_name)


def extract_kv_cache(model, input_ids, model_name=""):
    """Runs ``model`` on ``input_ids`` ([1, tokens] tensor or a list of ids) and returns
    (DynamicCache, KVCacheMetadata). Only the last position's logits are computed."""
    ids = torch.as_tensor(input_ids)
    if ids.dim() == 1:
        ids = ids.unsqueeze(0)
    if ids.shape[0] != 1:
        raise ValueError(f"batch size {ids.shape[0]}: extract one sequence at a time")
    with torch.no_grad():
        out = model(ids, past_key_values=DynamicCache(), use_cache=True, logits_to_keep=1)
    name = model_name or getattr(model.config, "name_or_path", "") or model.config.model_type
    return out.past_key_values, metadata_of(out.past_key_values, name)


def save_kv_cache(cache, path, model_name=""):
    """Writes a batch-1 DynamicCache as safetensors plus the metadata sidecar (kvc.save_cache);
    returns its KVCacheMetadata."""
    keys, values = cache_tensors(cache)
    k = torch.stack([t.contiguous() for t in keys])
    v = torch.stack([t.contiguous() for t in values])
    save_cache(path, k, v, model_name=model_name or None, dtype=_KVC_DTYPE_OF[k.dtype])
    return metadata_of(cache, model_name)


def load_kv_cache(path, dtype=None):
    """(DynamicCache, KVCacheMetadata) of a safetensors KV cache; ``dtype`` (a torch dtype)
    converts the tensors, else they keep the file's dtype (bf16 included)."""
    keys, values, model_name = load_cache(path)
    k, v = torch.from_numpy(keys), torch.from_numpy(values)
    if keys.dtype == np.uint16:
        k, v = k.view(torch.bfloat16), v.view(torch.bfloat16)
    if dtype is not None:
        k, v = k.to(dtype), v.to(dtype)
    cache = cache_from_tensors(k, v)
    return cache, metadata_of(cache, model_name)


def validate_kv_cache_shape(cache, adapter):
    """(is_valid, errors) of a cache against a kvc.AdapterInfo (``kvc.find_adapter``,
    ``kvc.adapter_from_gguf``, ...): layers, kv heads and head_dim must match; an adapter field
    of 0 (a shape taken from the input) is not checked."""
    meta = cache if isinstance(cache, KVCacheMetadata) else metadata_of(cache)
    errors = []
    for field, expected in (("num_layers", adapter.num_layers),
                            ("num_kv_heads", adapter.num_kv_heads),
                            ("head_dim", adapter.head_dim)):
        got = getattr(meta, field)
        if expected and got != expected:
            errors.append(f"{field} {got} != {expected} of adapter {adapter.name}")
    if adapter.context_tokens and meta.seq_len > adapter.context_tokens:
        errors.append(f"seq_len {meta.seq_len} exceeds context_tokens {adapter.context_tokens} "
                      f"of adapter {adapter.name}")
    return not errors, errors


def compute_kv_cache_stats(cache):
    """Shape, size and value statistics (keys and values together, and each) of a cache."""
    keys, values = cache_tensors(cache)
    meta = metadata_of(cache)
    k = torch.stack([t.float() for t in keys])
    v = torch.stack([t.float() for t in values])
    both = torch.cat([k.flatten(), v.flatten()])
    item = keys[0].element_size()
    stats = {**meta.to_dict(), "total_elements": both.numel(),
             "total_bytes": both.numel() * item, "total_mb": both.numel() * item / 1e6}
    for name, t in (("value", both), ("key_tensor", k), ("value_tensor", v)):
        stats.update({f"{name}_mean": t.mean().item(), f"{name}_std": t.std().item(),
                      f"{name}_min": t.min().item(), f"{name}_max": t.max().item(),
                      f"{name}_abs_max": t.abs().max().item()})
    return stats


def compress_kv_cache(cache, params=None, dtype=None):
    """One kvc blob holding every layer of a batch-1 DynamicCache (kvc.compress over per-layer
    views, no copy unless ``dtype`` (a torch dtype) converts first)."""
    keys, values = cache_tensors(cache)
    if dtype is not None:
        keys = [t.to(dtype) for t in keys]
        values = [t.to(dtype) for t in values]
    return compress(keys, values, params, dtype=_KVC_DTYPE_OF[keys[0].dtype])


def decompress_kv_cache(blob, dtype=torch.float32):
    """A DynamicCache decoded from a kvc blob in ``dtype`` (kvc.decompress; zero-copy views)."""
    keys, values = decompress(blob, dtype=_KVC_DTYPE_OF[dtype])
    k, v = torch.from_numpy(keys), torch.from_numpy(values)
    if dtype == torch.bfloat16:
        k, v = k.view(torch.bfloat16), v.view(torch.bfloat16)
    return cache_from_tensors(k, v)
