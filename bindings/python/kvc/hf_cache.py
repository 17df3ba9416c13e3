# hf_cache.py: a transformers Cache whose keys and values stay kvc-compressed between steps.
"""``KvcCache``: pass it as ``model.generate(..., past_key_values=KvcCache(model.config, ...))``.

Each layer keeps its history as kvc blobs of ``block_tokens`` tokens plus an uncompressed tail.
Once a layer holds ``compress_after`` tokens, every full block of the tail that is older than the
newest ``keep_recent`` tokens is compressed with ``kvc.compress`` (once: blocks are never
recompressed). Attention needs the whole history in full precision, so each step decodes the
blocks with ``kvc.decompress``; with ``keep_decoded=True`` (the default) the decoded blocks are
kept between steps (each block is decoded once, fast, but that copy is resident), with
``keep_decoded=False`` they are decoded again every step and dropped (slower, and only the blobs
and the tail stay resident). ``memory_stats()`` reports both honestly.

Token selection: with ``params.selection = "attention"`` pass ``selection=`` a
``kvc.hf_selection.SelectionAttention`` installed on the model (observing the newest queries,
e.g. ``hook.observe(32)``). A block is then compressed at the next step, once its layer's
attention has recorded the queries of the newest positions (SnapKV's observation window), kvc
keeps the tokens of the block those queries need, and the hook masks the evicted ones out of
attention (the decoded blocks keep their full length, zeros where tokens were evicted). kvc's
sinks and keep_recent apply per block. Batch size 1 only.

Needs torch and transformers >= 4.56 (cache layers). Only kvc's public functions are used.
"""
import torch
from transformers.cache_utils import Cache, DynamicLayer

from . import SELECTIONS, CompressParams, Context

_KVC_DTYPE_OF = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def _to_torch(array, dtype):
    """A torch view of a decompressed numpy array (bf16 arrives as uint16 bits)."""
    tensor = torch.from_numpy(array)
    return tensor.view(torch.bfloat16) if dtype == torch.bfloat16 else tensor


class KvcLayer(DynamicLayer):
    """One layer's cache: kvc blobs of ``block_tokens`` tokens each, then an uncompressed tail
    (``self.keys`` / ``self.values``, [batch, kv_heads, tokens, head_dim]). ``params=None`` keeps
    the layer uncompressed (a plain DynamicLayer). A blob holds one block of this layer with the
    batch entries as its kvc "layers"."""

    def __init__(self, params=None, block_tokens=128, compress_after=0, keep_recent=0,
                 keep_decoded=True, context=None, queries=None):
        super().__init__()
        self.is_selecting = params is not None and params.selection != SELECTIONS["none"]
        if self.is_selecting and params.selection == SELECTIONS["attention"] and queries is None:
            raise ValueError("selection 'attention' needs queries (KvcCache(selection=hook))")
        self.queries = queries  # () -> [query_heads, n, head_dim] tensor or None
        if block_tokens <= 0 or compress_after < 0 or keep_recent < 0:
            raise ValueError(f"block_tokens {block_tokens} must be > 0, compress_after "
                             f"{compress_after} and keep_recent {keep_recent} >= 0")
        self.params = params
        self.block_tokens = block_tokens
        self.compress_after = compress_after
        self.keep_recent = keep_recent
        self.keep_decoded = keep_decoded
        self._ctx = context
        self.is_initialized = False  # transformers 4.56's layers do not set it
        self._reset_blocks()

    def _reset_blocks(self):
        self.blobs = []               # bytes of each compressed block, oldest first
        self.compressed_tokens = 0    # tokens held in self.blobs
        self.cumulative_length = 0
        self._decoded_keys = self._decoded_values = None
        self._kept = []               # with selection: bool [kv_heads, block_tokens] per blob

    def _context(self):
        if self._ctx is None:
            self._ctx = Context()
        return self._ctx

    def lazy_initialization(self, key_states, value_states=None):
        # DynamicLayer's own signature differs across transformers versions: done here.
        self.dtype, self.device = key_states.dtype, key_states.device
        self.keys = torch.tensor([], dtype=self.dtype, device=self.device)
        self.values = torch.tensor([], dtype=self.dtype, device=self.device)
        self.is_initialized = True
        if self.params is not None and key_states.device.type != "cpu":
            raise TypeError(f"KvcLayer: kvc compresses CPU tensors; got {key_states.device}")
        if self.params is not None and key_states.dtype not in _KVC_DTYPE_OF:
            raise TypeError(f"KvcLayer: dtype {key_states.dtype} is not float32, float16 or "
                            "bfloat16")

    def _decode(self, blob):
        keys, values = self._context().decompress(blob, dtype=_KVC_DTYPE_OF[self.dtype],
                                                  scatter=self.is_selecting)
        return _to_torch(keys, self.dtype), _to_torch(values, self.dtype)

    def kept_mask(self):
        """bool [kv_heads, tokens] of the compressed blocks' tokens (True = kept), or None when
        the layer selects no tokens or holds no blocks."""
        if not self.is_selecting or not self._kept:
            return None
        return torch.cat(self._kept, dim=-1)

    def _decoded_history(self):
        """(keys, values) of all compressed blocks in full precision, or (None, None)."""
        if not self.blobs:
            return None, None
        if self._decoded_keys is not None:
            return self._decoded_keys, self._decoded_values
        parts = [self._decode(blob) for blob in self.blobs]
        keys = torch.cat([k for k, _ in parts], dim=-2)
        values = torch.cat([v for _, v in parts], dim=-2)
        if self.keep_decoded:
            self._decoded_keys, self._decoded_values = keys, values
        return keys, values

    def _flush_blocks(self):
        """Compresses each full block of the tail older than the newest keep_recent tokens."""
        if self.params is None or self.cumulative_length < self.compress_after:
            return
        while self.keys.shape[-2] - self.keep_recent >= self.block_tokens:
            block_keys = self.keys[..., :self.block_tokens, :]
            block_values = self.values[..., :self.block_tokens, :]
            if block_keys.stride(-1) != 1:
                block_keys, block_values = block_keys.contiguous(), block_values.contiguous()
            queries = None
            if self.is_selecting and self.params.selection == SELECTIONS["attention"]:
                queries = self.queries()
                if queries is None:
                    return  # the attention has not recorded this layer's queries yet
                queries = queries.to(self.dtype)
            blob = self._context().compress(block_keys, block_values, self.params,
                                            dtype=_KVC_DTYPE_OF[self.dtype], queries=queries)
            if self.is_selecting:
                self._kept.append(torch.from_numpy(self._context().kept_mask(blob)[0]))
            self.blobs.append(blob)
            self.compressed_tokens += self.block_tokens
            if self.keep_decoded:
                keys, values = self._decode(blob)
                if self._decoded_keys is None:
                    self._decoded_keys, self._decoded_values = keys, values
                else:
                    self._decoded_keys = torch.cat([self._decoded_keys, keys], dim=-2)
                    self._decoded_values = torch.cat([self._decoded_values, values], dim=-2)
            self.keys = self.keys[..., self.block_tokens:, :].clone()
            self.values = self.values[..., self.block_tokens:, :].clone()

    def update(self, key_states, value_states, *args, **kwargs):
        """Appends the new states, compresses full blocks, returns the whole history."""
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        if self.is_selecting:
            if key_states.shape[0] != 1:
                raise ValueError(f"KvcLayer: token selection needs batch size 1, got "
                                 f"{key_states.shape[0]}")
            if self.keys.dim() == 4:  # before appending: the queries recorded are the newest
                self._flush_blocks()
        self.cumulative_length += key_states.shape[-2]
        if self.keys.numel() == 0:
            self.keys, self.values = key_states, value_states
        else:
            self.keys = torch.cat([self.keys, key_states], dim=-2)
            self.values = torch.cat([self.values, value_states], dim=-2)
        if not self.is_selecting:
            self._flush_blocks()
        old_keys, old_values = self._decoded_history()
        if old_keys is None:
            return self.keys, self.values
        return (torch.cat([old_keys, self.keys], dim=-2),
                torch.cat([old_values, self.values], dim=-2))

    def get_seq_length(self):
        return self.cumulative_length

    def get_max_length(self):
        return -1

    def get_max_cache_shape(self):  # the name in transformers 4.56
        return -1

    def reset(self):
        """Drops every block and the tail; the next update starts a new sequence."""
        self.keys = self.values = None
        self.is_initialized = False
        self._reset_blocks()

    def crop(self, tokens_to_remove):
        """Removes the newest tokens; only from the uncompressed tail."""
        if tokens_to_remove > 0:  # transformers' legacy form: the length to keep
            tokens_to_remove = tokens_to_remove - self.cumulative_length
        count = abs(tokens_to_remove)
        if count == 0 or not self.is_initialized:
            return
        if count > self.keys.shape[-2]:
            raise ValueError(f"KvcLayer.crop: {count} tokens reach into the compressed blocks "
                             f"(tail holds {self.keys.shape[-2]})")
        self.keys = self.keys[..., :-count, :]
        self.values = self.values[..., :-count, :]
        self.cumulative_length -= count

    def reorder_cache(self, beam_idx):
        raise NotImplementedError("KvcCache holds batch entries inside kvc blobs; beam search "
                                  "is not supported")

    def batch_repeat_interleave(self, repeats):
        if self.blobs:
            raise NotImplementedError("KvcCache cannot repeat compressed batch entries")
        super().batch_repeat_interleave(repeats)

    def batch_select_indices(self, indices):
        if self.blobs:
            raise NotImplementedError("KvcCache cannot select compressed batch entries")
        super().batch_select_indices(indices)

    def memory_stats(self):
        """Bytes held by this layer: blobs, tail, decoded copies, and what a DynamicLayer of the
        same length would hold."""
        item = torch.empty((), dtype=self.dtype).element_size() if self.is_initialized else 0
        tail = 2 * self.keys.numel() * item if self.is_initialized else 0
        per_token = 0
        if self.is_initialized and self.keys.dim() == 4:
            b, h, _, d = self.keys.shape
            per_token = 2 * b * h * d * item
        decoded = 0
        if self._decoded_keys is not None:
            decoded = 2 * self._decoded_keys.numel() * item
        return {"tokens": self.cumulative_length, "compressed_tokens": self.compressed_tokens,
                "blob_bytes": sum(len(b) for b in self.blobs), "tail_bytes": tail,
                "decoded_bytes": decoded, "dynamic_bytes": per_token * self.cumulative_length}


class KvcCache(Cache):
    """A transformers Cache keeping K and V compressed through kvc between generation steps.

    Args:
        config: the model's config (``num_hidden_layers``) or a number of layers.
        params: kvc.CompressParams for every compressed layer (default: the library's).
        block_tokens: tokens per compressed block (a multiple of ``params.group_size`` keeps key
            groups whole).
        compress_after: a layer compresses nothing until it holds this many tokens (what other
            KV-compression tools call ``compress_start_len``).
        keep_recent: the newest tokens that always stay uncompressed (``uncompressed_tail``).
        layer_params: {layer index: CompressParams or None}; None keeps that layer uncompressed.
        uncompressed_layers: the first this many layers stay uncompressed.
        keep_decoded: keep decoded blocks between steps (see the module docstring).
        selection: a kvc.hf_selection.SelectionAttention on the model, for params with
            ``selection="attention"``: its recorded queries drive kvc's selection and the cache
            hands it the kept masks (``selection.evict(cache.kept_mask)``).
    """

    def __init__(self, config, params=None, block_tokens=128, compress_after=0, keep_recent=0,
                 layer_params=None, uncompressed_layers=0, keep_decoded=True, selection=None):
        num_layers = config if isinstance(config, int) else config.num_hidden_layers
        params = params if params is not None else CompressParams()
        layer_params = dict(layer_params or {})
        self._context = Context()
        layers = []
        for index in range(num_layers):
            p = layer_params.get(index, None if index < uncompressed_layers else params)
            queries = None if selection is None else \
                (lambda layer=index: selection.layer_queries(layer))
            layers.append(KvcLayer(p, block_tokens, compress_after, keep_recent, keep_decoded,
                                   self._context, queries))
        super().__init__(layers=layers)
        if selection is not None:
            selection.evict(self.kept_mask)

    def kept_mask(self, layer):
        """bool [kv_heads, tokens] of layer ``layer``'s compressed tokens (True = kept), or None
        where it selects no tokens."""
        return self.layers[layer].kept_mask()

    def close(self):
        """Frees the kvc context (the cache can no longer compress or decode). Its layers share
        that one kvc.Context: a cache serves one generation (one thread) at a time, and a second
        thread's call raises kvc.KvcError with status KVC_ERR_BUSY."""
        self._context.close()

    def memory_stats(self):
        """Totals over layers: ``blob_bytes`` (compressed blocks), ``tail_bytes`` (uncompressed
        tail and uncompressed layers), ``decoded_bytes`` (decoded blocks kept between steps),
        ``stored_bytes`` = blobs + tail, ``resident_bytes`` = stored + decoded,
        ``dynamic_bytes`` (a DynamicCache of the same tokens), and the ratios of both."""
        totals = {"blob_bytes": 0, "tail_bytes": 0, "decoded_bytes": 0, "dynamic_bytes": 0,
                  "compressed_tokens": 0}
        for layer in self.layers:
            for key, value in layer.memory_stats().items():
                if key in totals:
                    totals[key] += value
        totals["stored_bytes"] = totals["blob_bytes"] + totals["tail_bytes"]
        totals["resident_bytes"] = totals["stored_bytes"] + totals["decoded_bytes"]
        dynamic = max(totals["dynamic_bytes"], 1)
        totals["stored_vs_dynamic"] = totals["stored_bytes"] / dynamic
        totals["resident_vs_dynamic"] = totals["resident_bytes"] / dynamic
        return totals


__all__ = ["KvcCache", "KvcLayer"]
