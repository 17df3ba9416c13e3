# perplexity.py: sliding-window perplexity, KL and top-1 agreement with the context's KV compressed.
"""For each window of ``context + stride`` tokens: the model runs the first ``context - 1``
tokens, that cache is compressed and decompressed through kvc (one blob per window, all layers),
then the model reads tokens ``context - 1 .. context + stride - 2`` over the reconstructed cache
and scores the last ``stride`` tokens (the context is masked from the loss: every scored token
sees only compressed context plus the uncompressed scored tokens before it). Windows advance by
``stride``, so the scored tokens are contiguous and counted once. Every setting is compared with
the uncompressed cache of the same window: perplexity, KL(uncompressed || compressed) of the
next-token distributions and top-1 agreement.

Settings with an ``attention`` threshold select tokens with kvc (``selection="attention"``): the
context pass records the post-RoPE queries of its last ``observe_queries`` positions in every
layer (kvc.hf_selection), kvc keeps the fewest tokens holding that share of their attention (plus
its default sinks and recent window), and the scored tokens attend only to the tokens each layer
(and head, with per_head) kept.
"""
import math
import time

import torch

from .. import CompressParams
from ..kv_utils import cache_from_tensors, cache_tensors
from ..hf_selection import SelectionAttention
from .context import compress_context


def setting_label(setting):
    """"4-bit g128 r64" (or "4-bit g128 attn 0.9 [per-head]" with token selection) of a setting
    dict (bits, group, recent, optional attention threshold and per_head)."""
    if setting is None:
        return "uncompressed"
    label = f"{setting['bits']}-bit" + ("" if setting["bits"] == 16 else f" g{setting['group']}")
    label += f" r{setting['recent']}" if setting.get("recent") else ""
    label += f" attn {setting['attention']:g}" if setting.get("attention") else ""
    return label + (" per-head" if setting.get("per_head") else "")


def params_of(setting):
    """kvc.CompressParams of a setting dict; an ``attention`` threshold selects tokens with
    ``selection="attention"`` (per KV head with ``per_head``; sinks and recent_always_kept_tokens: the
    library's defaults)."""
    params = CompressParams(key_bits=setting["bits"], value_bits=setting["bits"],
                            group_size=setting["group"], recent_full_precision_tokens=setting.get("recent", 0))
    if setting.get("attention"):
        params.selection = "attention"
        params.attention_threshold = setting["attention"]
        params.per_head = bool(setting.get("per_head"))
    return params


def windows(token_ids, context, stride, count):
    """Start offsets of up to ``count`` windows of context + stride tokens, ``stride`` apart."""
    starts = []
    begin = 0
    while len(starts) < count and begin + context + stride <= len(token_ids):
        starts.append(begin)
        begin += stride
    return starts


class _Tally:
    """Running sums of one setting over the scored tokens."""

    def __init__(self):
        self.nll = self.kl = 0.0
        self.agree = self.tokens = 0
        self.bits = []
        self.kept = []
        self.seconds = 0.0


def _continuation_logprobs(model, cache, inputs):
    with torch.no_grad():
        logits = model(inputs, past_key_values=cache, use_cache=True).logits[0]
    return torch.log_softmax(logits.float(), dim=-1)


def evaluate(model, token_ids, settings, context=384, stride=128, num_windows=16,
             compress_dtype=torch.float16, progress=None, observe_queries=32):
    """Per setting (and "uncompressed"): perplexity, KL, top-1 agreement, bits per element.

    Returns {"scored_tokens", "windows", "context", "stride", "baseline", "rows"}; each row has
    the setting, ``label``, ``ppl``, ``kl``, ``top1``, ``bits_per_element`` (blob bytes * 8 over
    the 2 * layers * heads * tokens * head_dim cached elements, mean over windows),
    ``tokens_kept`` (share of the context's tokens kept, mean over windows; 1 without selection)
    and ``compress_seconds``. The cache goes to kvc as ``compress_dtype`` (fp16, as a deployed
    fp16 model holds it) and comes back in the model's dtype. Settings with an ``attention``
    threshold use the queries of the last ``observe_queries`` context positions."""
    ids = torch.as_tensor(token_ids)
    starts = windows(ids, context, stride, num_windows)
    if not starts:
        raise ValueError(f"{len(ids)} tokens: too few for one window of {context} + {stride}")
    selecting = any(s.get("attention") for s in settings)
    hook = SelectionAttention(model) if selecting else None
    try:
        base, tallies = _run_windows(model, ids, starts, settings, context, stride, hook,
                                     observe_queries, compress_dtype, progress)
    finally:
        if hook is not None:
            hook.close()
    baseline_ppl = math.exp(base.nll / base.tokens)
    rows = []
    for setting, tally in zip(settings, tallies):
        ppl = math.exp(tally.nll / tally.tokens)
        rows.append({**setting, "label": setting_label(setting),
                     "bits_per_element": sum(tally.bits) / len(tally.bits), "ppl": ppl,
                     "ppl_delta": ppl - baseline_ppl,
                     "ppl_delta_pct": 100.0 * (ppl - baseline_ppl) / baseline_ppl,
                     "kl": tally.kl / tally.tokens, "top1": tally.agree / tally.tokens,
                     "tokens_kept": sum(tally.kept) / len(tally.kept),
                     "compress_seconds": tally.seconds})
    result = {"scored_tokens": base.tokens, "windows": len(starts), "context": context,
              "stride": stride, "baseline": {"label": "uncompressed", "ppl": baseline_ppl},
              "rows": rows}
    if selecting:
        result["observe_queries"] = observe_queries
    return result


def _run_windows(model, ids, starts, settings, context, stride, hook, observe_queries,
                 compress_dtype, progress):
    """(_Tally of the uncompressed cache, one _Tally per setting) over the windows."""
    base = _Tally()
    tallies = [_Tally() for _ in settings]
    for number, begin in enumerate(starts):
        window = ids[begin:begin + context + stride].unsqueeze(0)
        prefix, inputs = window[:, :context - 1], window[:, context - 1:-1]
        targets = window[0, context:]
        if hook is not None:
            hook.observe(observe_queries)
        with torch.no_grad():
            prefix_cache = model(prefix, use_cache=True, logits_to_keep=1).past_key_values
        queries = None
        if hook is not None:
            queries = hook.queries()
            hook.observe(0)
        keys, values = cache_tensors(prefix_cache)
        base_lp = _continuation_logprobs(model, cache_from_tensors(keys, values), inputs)
        base.nll += -base_lp.gather(1, targets[:, None]).sum().item()
        base.tokens += len(targets)
        base_top1 = base_lp.argmax(-1)
        base_p = base_lp.exp()
        for setting, tally in zip(settings, tallies):
            started = time.perf_counter()
            rebuilt = compress_context(prefix_cache, params_of(setting),
                                       queries if setting.get("attention") else None,
                                       dtype=compress_dtype)
            tally.seconds += time.perf_counter() - started
            tally.bits.append(rebuilt.bits_per_element)
            tally.kept.append(rebuilt.kept_share)
            if hook is not None:
                hook.evict(rebuilt.kept)
            try:
                lp = _continuation_logprobs(model, rebuilt.cache, inputs)
            finally:
                if hook is not None:
                    hook.evict(None)
            tally.nll += -lp.gather(1, targets[:, None]).sum().item()
            tally.kl += (base_p * (base_lp - lp)).sum().item()
            tally.agree += (lp.argmax(-1) == base_top1).sum().item()
            tally.tokens += len(targets)
        if progress:
            progress(number + 1, len(starts))
    return base, tallies
