# needle.py: needle-in-a-haystack retrieval with the prompt's KV cache compressed through kvc.
"""A passcode sentence is hidden at a depth of a WikiText haystack; an instruct model is asked
for it through its chat template. The prompt (all but its last token) is prefilled once, that
cache is compressed and decompressed through kvc for each setting, and greedy decoding continues
from the last prompt token. A trial passes when the passcode's digits appear in the answer.
Settings with an ``attention`` threshold select the prompt's tokens with the queries of its last
``observe_queries`` positions, and decoding attends only to the kept tokens (see perplexity.py).
"""
import random

import torch

from ..hf_selection import SelectionAttention
from ..kv_utils import cache_from_tensors, cache_tensors
from .context import compress_context
from .perplexity import params_of, setting_label

_NEEDLE = "The secret passcode is {code}."
_QUESTION = "What is the secret passcode mentioned in the text above? Answer with the number only."


def build_prompt(tokenizer, haystack_ids, length, depth, code):
    """Token ids of a chat prompt of about ``length`` haystack tokens with the needle at
    ``depth`` (0..1) of them, followed by the question."""
    needle = tokenizer.encode(" " + _NEEDLE.format(code=code) + " ", add_special_tokens=False)
    at = int(length * depth)
    body = haystack_ids[:at] + needle + haystack_ids[at:length]
    text = tokenizer.decode(body)
    messages = [{"role": "user", "content": text + "\n\n" + _QUESTION}]
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                             return_dict=False)
    return tokenizer.encode(messages[0]["content"] + "\nAnswer:")


def _greedy(model, cache, last_token, max_new_tokens, eos_id):
    out, token = [], last_token
    with torch.no_grad():
        for _ in range(max_new_tokens):
            logits = model(torch.tensor([[token]]), past_key_values=cache, use_cache=True).logits
            token = int(logits[0, -1].argmax())
            if token == eos_id:
                break
            out.append(token)
    return out


def evaluate(model, tokenizer, haystack_ids, settings, lengths=(256, 512, 1024),
             depths=(0.3, 0.7), max_new_tokens=24, seed=0, compress_dtype=torch.float16,
             progress=None, observe_queries=32):
    """{"lengths", "depths", "trials_per_length", "rows"}: per setting (the first row is the
    uncompressed cache) the share of trials that retrieved the passcode, per length and overall.
    """
    hook = SelectionAttention(model) if any(s.get("attention") for s in settings) else None
    try:
        hits = _trials(model, tokenizer, haystack_ids, settings, lengths, depths, max_new_tokens,
                       seed, compress_dtype, progress, hook, observe_queries)
    finally:
        if hook is not None:
            hook.close()
    per_length = len(depths)
    rows = []
    for label, by_length in hits.items():
        rows.append({"label": label,
                     "by_length": {str(n): by_length[n] / per_length for n in lengths},
                     "score": sum(by_length.values()) / (per_length * len(lengths))})
    return {"lengths": list(lengths), "depths": list(depths), "trials_per_length": per_length,
            "rows": rows}


def _trials(model, tokenizer, haystack_ids, settings, lengths, depths, max_new_tokens, seed,
            compress_dtype, progress, hook, observe_queries):
    """{label: {length: passes}} over every length and depth."""
    rng = random.Random(seed)
    hits = {setting_label(s): {n: 0 for n in lengths} for s in [None] + list(settings)}
    trials = 0
    for length in lengths:
        for depth in depths:
            code = str(rng.randrange(1000, 10000))
            prompt = build_prompt(tokenizer, haystack_ids, length, depth, code)
            if hook is not None:
                hook.observe(observe_queries)
            with torch.no_grad():
                prefill = model(torch.tensor([prompt[:-1]]), use_cache=True,
                                logits_to_keep=1).past_key_values
            queries = None
            if hook is not None:
                queries = hook.queries()
                hook.observe(0)
            keys, values = cache_tensors(prefill)
            for setting in [None] + list(settings):
                kept = None
                if setting is None:
                    cache = cache_from_tensors(keys, values)
                else:
                    rebuilt = compress_context(prefill, params_of(setting),
                                               queries if setting.get("attention") else None,
                                               dtype=compress_dtype)
                    cache, kept = rebuilt.cache, rebuilt.kept
                if hook is not None:
                    hook.evict(kept)
                try:
                    answer = tokenizer.decode(_greedy(model, cache, prompt[-1], max_new_tokens,
                                                      tokenizer.eos_token_id))
                finally:
                    if hook is not None:
                        hook.evict(None)
                hits[setting_label(setting)][length] += int(code in answer.replace(" ", ""))
            trials += 1
            if progress:
                progress(trials, len(lengths) * len(depths))
    return hits
