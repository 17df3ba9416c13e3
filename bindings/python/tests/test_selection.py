# test_selection.py: kvc token selection on stories260K: query capture, eviction masks, eval rows.
import pytest

import kvc
from conftest import require_torch_stack

torch, transformers = require_torch_stack()
from kvc.eval import perplexity  # noqa: E402  (needs torch)
from kvc.hf_selection import SelectionAttention  # noqa: E402
from kvc.kv_utils import cache_from_tensors, cache_tensors  # noqa: E402

TEXT = ("Once upon a time there was a little girl named Lily. She loved to play in the park with "
        "her dog Max. One day she found a big red ball under a tree. ") * 3


@pytest.fixture(scope="module")
def model_and_ids(stories_model):
    model, tokenizer = stories_model
    return model, torch.tensor([tokenizer.encode(TEXT)])


def test_installing_the_hook_changes_nothing_until_it_masks(model_and_ids):
    model, ids = model_and_ids
    implementation = model.config._attn_implementation
    with torch.no_grad():
        plain = model(ids).logits
        with SelectionAttention(model) as hook:
            assert model.config._attn_implementation == "kvc_selection_" + implementation
            hooked = model(ids).logits
            hook.evict(torch.ones(model.config.num_hidden_layers,
                                  model.config.num_key_value_heads, ids.shape[1] // 2,
                                  dtype=torch.bool))
            all_kept = model(ids).logits
    assert model.config._attn_implementation == implementation
    assert torch.equal(plain, hooked) and torch.equal(plain, all_kept)


def test_captured_queries_are_the_post_rope_queries_behind_the_attention_weights(model_and_ids):
    model, ids = model_and_ids
    n = 8
    model.set_attn_implementation("eager")  # eager returns the attention weights to check
    try:
        with torch.no_grad(), SelectionAttention(model) as hook:
            hook.observe(n)
            out = model(ids, use_cache=True, output_attentions=True)
            queries = hook.queries()
    finally:
        model.set_attn_implementation("sdpa")
    config = model.config
    head_dim = config.hidden_size // config.num_attention_heads
    assert queries.shape == (config.num_hidden_layers, config.num_attention_heads, n, head_dim)
    keys, _ = cache_tensors(out.past_key_values)
    groups = config.num_attention_heads // config.num_key_value_heads
    tokens = ids.shape[1]
    causal = torch.arange(tokens - n, tokens)[:, None] >= torch.arange(tokens)[None, :]
    for layer, weights in enumerate(out.attentions):
        k = keys[layer].repeat_interleave(groups, dim=0)  # [query_heads, tokens, head_dim]
        scores = queries[layer] @ k.transpose(1, 2) / head_dim ** 0.5
        expected = scores.masked_fill(~causal, float("-inf")).softmax(-1)
        assert torch.allclose(expected, weights[0, :, -n:, :], atol=1e-5), layer


def test_masking_evicted_tokens_equals_removing_them_from_the_cache(model_and_ids):
    model, ids = model_and_ids
    context = 60
    prefix, inputs = ids[:, :context], ids[:, context:context + 20]
    with torch.no_grad():
        cache = model(prefix, use_cache=True).past_key_values
    keys, values = cache_tensors(cache)
    kept = torch.zeros(context, dtype=torch.bool)
    kept[:4] = kept[10:30:3] = kept[-12:] = True
    layers, heads = len(keys), keys[0].shape[0]
    positions = torch.arange(context, context + inputs.shape[1])[None]
    with torch.no_grad():
        with SelectionAttention(model) as hook:
            hook.evict(kept.expand(layers, heads, context))
            masked = model(inputs, past_key_values=cache_from_tensors(keys, values),
                           position_ids=positions).logits
            hook.evict(None)
            unmasked = model(inputs, past_key_values=cache_from_tensors(keys, values),
                             position_ids=positions).logits
        pruned = cache_from_tensors([k[:, kept] for k in keys], [v[:, kept] for v in values])
        removed = model(inputs, past_key_values=pruned, position_ids=positions).logits
    assert torch.allclose(masked, removed, atol=1e-4)
    assert not torch.allclose(unmasked, removed, atol=1e-2)  # the eviction mattered


def test_per_head_masks_reach_each_query_head_of_their_kv_head(model_and_ids):
    model, ids = model_and_ids
    config = model.config
    groups = config.num_attention_heads // config.num_key_value_heads
    kept = torch.ones(config.num_hidden_layers, config.num_key_value_heads, 10, dtype=torch.bool)
    kept[1, 2, 3] = kept[1, 0, 7] = False
    with SelectionAttention(model) as hook:
        hook.evict(kept)
        query = torch.zeros(1, config.num_attention_heads, 2, 8)
        key = torch.zeros(1, config.num_key_value_heads, 13, 8)
        mask = hook._mask(1, query, key, None)
        assert hook._mask(0, query, key, None) is None  # layer 0 evicted nothing
    assert mask.shape == (1, config.num_attention_heads, 2, 13)
    blocked = mask == torch.finfo(torch.float32).min
    for head in range(config.num_attention_heads):
        evicted = {3} if head // groups == 2 else {7} if head // groups == 0 else set()
        # row 0 is position 11: position 12 is in its future; row 1 (position 12) sees all
        assert set(blocked[0, head, 0].nonzero().flatten().tolist()) == evicted | {12}
        assert set(blocked[0, head, 1].nonzero().flatten().tolist()) == evicted


def _rows(model, ids, settings):
    result = perplexity.evaluate(model, ids, settings, context=128, stride=64, num_windows=2)
    return result, {r["label"]: r for r in result["rows"]}


def test_threshold_one_is_the_uncompressed_context_path_and_a_tiny_threshold_degrades(
        stories_model):
    model, tokenizer = stories_model
    with open(kvc_text_path(), encoding="utf-8") as f:
        ids = tokenizer.encode(f.read()[:20000], add_special_tokens=False)
    plain, plain_rows = _rows(model, ids, [{"bits": 16, "group": 128, "recent": 0},
                                           {"bits": 4, "group": 32, "recent": 0}])
    chosen, rows = _rows(model, ids, [{"bits": 16, "group": 128, "recent": 0},
                                      {"bits": 16, "group": 128, "recent": 0, "attention": 1.0},
                                      {"bits": 4, "group": 32, "recent": 0, "attention": 1.0},
                                      {"bits": 16, "group": 128, "recent": 0, "attention": 0.01}])
    assert chosen["baseline"]["ppl"] == plain["baseline"]["ppl"]
    assert rows["16-bit"]["ppl"] == plain_rows["16-bit"]["ppl"]
    whole = rows["16-bit attn 1"]
    assert whole["tokens_kept"] == 1.0 and plain_rows["16-bit"]["tokens_kept"] == 1.0
    assert whole["ppl"] == rows["16-bit"]["ppl"] and whole["kl"] == rows["16-bit"]["kl"]
    assert rows["4-bit g32 attn 1"]["ppl"] == plain_rows["4-bit g32"]["ppl"]
    tiny = rows["16-bit attn 0.01"]
    # sinks (4) + recent_always_kept_tokens (32) of the 127 context tokens are all a tiny threshold keeps
    assert tiny["tokens_kept"] == pytest.approx(36 / 127)
    assert tiny["bits_per_element"] < 0.5 * whole["bits_per_element"]
    # KL and top-1 show it: 128 scored tokens of Wikipedia are too few, and too far from this
    # TinyStories model, for its perplexity to move reliably (it can even fall)
    assert tiny["kl"] > 100 * max(whole["kl"], 1e-6) and tiny["top1"] < whole["top1"]
    assert tiny["ppl"] != whole["ppl"]


def kvc_text_path():
    from kvc.models import default_model_paths
    path = default_model_paths()["stories260K"].parent / "wiki.test.raw"
    if not path.is_file():
        pytest.skip(f"{path} not found (../shared/data)")
    return path


def test_per_head_selection_keeps_its_own_tokens_per_kv_head(stories_model):
    model, tokenizer = stories_model
    with open(kvc_text_path(), encoding="utf-8") as f:
        ids = tokenizer.encode(f.read()[:20000], add_special_tokens=False)
    setting = {"bits": 16, "group": 128, "recent": 0, "attention": 0.9}
    _, rows = _rows(model, ids, [setting, {**setting, "per_head": True}])
    layer, head = rows["16-bit attn 0.9"], rows["16-bit attn 0.9 per-head"]
    assert perplexity.params_of(head).per_head == 1
    assert 36 / 127 <= head["tokens_kept"] < 1 and head["kl"] != layer["kl"]
