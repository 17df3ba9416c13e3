# test_hf_cache.py: KvcCache in model.generate: greedy equality at 8 bits, blocks, adaptive mode,
# token selection.
import os

import pytest

import kvc
from conftest import gguf_model, require_torch_stack

torch, transformers = require_torch_stack()
from kvc.hf_cache import KvcCache  # noqa: E402  (needs torch)
from kvc.hf_selection import SelectionAttention  # noqa: E402

PROMPT = "Once upon a time"
NEW_TOKENS = 100


def _generate(model, tokenizer, cache=None, new_tokens=NEW_TOKENS, prompt=PROMPT):
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    kwargs = {} if cache is None else {"past_key_values": cache}
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                             do_sample=False, **kwargs)
    return out[0, ids.shape[1]:]


@pytest.fixture(scope="module")
def baseline_run(stories_model):
    """(generated ids, the DynamicCache they left) of the uncompressed greedy run."""
    model, tokenizer = stories_model
    dynamic = transformers.DynamicCache()
    return _generate(model, tokenizer, dynamic), dynamic


@pytest.fixture(scope="module")
def baseline(baseline_run):
    return baseline_run[0]


def _params(bits, group=32):
    return kvc.CompressParams(key_bits=bits, value_bits=bits, group_size=group)


def test_eight_bit_cache_generates_the_uncompressed_greedy_text(stories_model, baseline):
    model, tokenizer = stories_model
    cache = KvcCache(model.config, _params(8), block_tokens=32, keep_recent=16)
    out = _generate(model, tokenizer, cache)
    stats = cache.memory_stats()
    assert stats["compressed_tokens"] == 2 * 32 * model.config.num_hidden_layers
    assert torch.equal(out, baseline), tokenizer.decode(out)


@pytest.mark.parametrize("bits", [4, 2])
def test_low_bit_caches_generate_text_and_store_less_than_a_dynamic_cache(stories_model, bits,
                                                                          baseline_run):
    model, tokenizer = stories_model
    cache = KvcCache(model.config, _params(bits), block_tokens=32)
    out = _generate(model, tokenizer, cache)
    assert len(out) == NEW_TOKENS and tokenizer.decode(out).strip()
    stats = cache.memory_stats()
    dynamic = baseline_run[1]
    real_dynamic = sum(2 * layer.keys.numel() * layer.keys.element_size()
                       for layer in dynamic.layers)
    assert stats["dynamic_bytes"] == real_dynamic
    assert stats["blob_bytes"] == sum(len(b) for layer in cache.layers for b in layer.blobs)
    assert stats["stored_bytes"] < real_dynamic * (0.5 if bits == 2 else 0.6)


def test_adaptive_mode_waits_for_compress_after_and_keeps_the_recent_tail(stories_model):
    model, tokenizer = stories_model
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    cache = KvcCache(model.config, _params(4), block_tokens=32, compress_after=64,
                     keep_recent=40)
    with torch.no_grad():
        model.generate(ids, max_new_tokens=50, min_new_tokens=50, do_sample=False,
                       past_key_values=cache)
    total = ids.shape[1] + 49  # the last generated token is not fed back
    assert cache.get_seq_length() == total
    assert all(not layer.blobs for layer in cache.layers)  # below compress_after
    cache = KvcCache(model.config, _params(4), block_tokens=32, compress_after=64,
                     keep_recent=40)
    with torch.no_grad():
        model.generate(ids, max_new_tokens=150, min_new_tokens=150, do_sample=False,
                       past_key_values=cache)
    for layer in cache.layers:
        tail = layer.keys.shape[-2]
        assert layer.blobs and 40 <= tail < 40 + 32
        assert layer.compressed_tokens + tail == cache.get_seq_length()


def test_blocks_are_compressed_once_and_kept_as_the_same_blobs(stories_model):
    model, tokenizer = stories_model
    cache = KvcCache(model.config, _params(4), block_tokens=32)
    ids = tokenizer(PROMPT, return_tensors="pt").input_ids
    with torch.no_grad():
        model.generate(ids, max_new_tokens=70, do_sample=False, past_key_values=cache)
    first = [list(layer.blobs) for layer in cache.layers]
    out = model(torch.tensor([[5]]), past_key_values=cache, use_cache=True)
    assert out.logits.shape[1] == 1
    for layer, blobs in zip(cache.layers, first):
        assert all(a is b for a, b in zip(layer.blobs, blobs))  # the same objects: not redone
        info = kvc.inspect(layer.blobs[0])
        assert (info.num_tokens, info.num_kv_heads) == (32, model.config.num_key_value_heads)


def test_uncompressed_layers_and_per_layer_params(stories_model):
    model, tokenizer = stories_model
    layers = model.config.num_hidden_layers
    cache = KvcCache(model.config, _params(4), block_tokens=32, uncompressed_layers=2,
                     layer_params={layers - 1: _params(8, 64)})
    _generate(model, tokenizer, cache, new_tokens=80)
    assert not cache.layers[0].blobs and not cache.layers[1].blobs
    assert cache.layers[0].keys.shape[-2] == cache.get_seq_length()
    assert kvc.inspect(cache.layers[2].blobs[0]).key_bits == 4
    assert kvc.inspect(cache.layers[-1].blobs[0]).key_bits == 8


def test_dropping_decoded_blocks_gives_the_same_text_and_less_resident_memory(stories_model):
    model, tokenizer = stories_model
    kept = KvcCache(model.config, _params(3), block_tokens=32)
    dropped = KvcCache(model.config, _params(3), block_tokens=32, keep_decoded=False)
    assert torch.equal(_generate(model, tokenizer, kept), _generate(model, tokenizer, dropped))
    a, b = kept.memory_stats(), dropped.memory_stats()
    assert a["decoded_bytes"] > 0 and b["decoded_bytes"] == 0
    assert b["resident_bytes"] == b["stored_bytes"] < a["resident_bytes"]


def _selecting(threshold):
    return kvc.CompressParams(key_bits=16, value_bits=16, selection="attention",
                              attention_threshold=threshold, sink_tokens=4,
                              recent_always_kept_tokens=8)


def test_token_selection_keeps_tokens_per_block_and_masks_the_evicted_ones(stories_model,
                                                                           baseline):
    model, tokenizer = stories_model
    with SelectionAttention(model) as hook:
        hook.observe(16)
        whole = KvcCache(model.config, _selecting(1.0), block_tokens=32, selection=hook)
        kept_all = _generate(model, tokenizer, whole)
        few = KvcCache(model.config, _selecting(0.01), block_tokens=32, selection=hook)
        kept_few = _generate(model, tokenizer, few)
    # threshold 1 keeps every token: lossless fp16 blocks, the uncompressed greedy text
    assert torch.equal(kept_all, baseline), tokenizer.decode(kept_all)
    blocks = len(whole.layers[0].blobs)
    assert blocks >= 2 and all(bool(layer.kept_mask().all()) for layer in whole.layers)
    # a tiny threshold keeps the sinks and the recent tokens of each block only
    for layer in few.layers:
        mask = layer.kept_mask()
        assert mask.shape == (model.config.num_key_value_heads, 32 * len(layer.blobs))
        assert mask.sum().item() == 12 * len(layer.blobs) * mask.shape[0]
        evicted = ~mask[0]
        decoded = layer._decoded_history()[0][0, :, :mask.shape[1]]
        assert torch.count_nonzero(decoded[:, evicted]) == 0  # scattered: zeros where evicted
    assert few.memory_stats()["blob_bytes"] < 0.5 * whole.memory_stats()["blob_bytes"]
    assert len(kept_few) == NEW_TOKENS and not torch.equal(kept_few, baseline)
    with pytest.raises(ValueError, match="needs queries"):
        KvcCache(model.config, _selecting(0.5))


@pytest.mark.skipif(os.environ.get("KVC_SLOW_TESTS") != "1",
                    reason="SmolLM2 on CPU takes minutes: run with KVC_SLOW_TESTS=1 (not in CI)")
def test_smollm2_generates_with_the_kvc_cache_and_matches_greedy_at_eight_bits():
    model, tokenizer = gguf_model("smollm2")
    prompt = "The capital of France is"
    baseline = _generate(model, tokenizer, None, 24, prompt)
    cache = KvcCache(model.config, _params(8, 32), block_tokens=8, uncompressed_layers=0)
    out = _generate(model, tokenizer, cache, 24, prompt)
    assert cache.memory_stats()["compressed_tokens"] > 0
    assert torch.equal(out, baseline), tokenizer.decode(out)
    cache4 = KvcCache(model.config, _params(4, 32), block_tokens=8)
    assert tokenizer.decode(_generate(model, tokenizer, cache4, 24, prompt)).strip()


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
def test_layer_alone_blocks_crop_and_reset(dtype):
    from kvc.hf_cache import KvcLayer
    dtype = getattr(torch, dtype)
    gen = torch.Generator().manual_seed(0)
    steps = [torch.randn(1, 2, n, 64, generator=gen).to(dtype) for n in (40, 1, 1, 30)]
    layer = KvcLayer(_params(8), block_tokens=32, keep_recent=8)
    for k in steps:
        keys, values = layer.update(k, -k)
    full = torch.cat(steps, dim=-2)
    assert keys.shape == full.shape and keys.dtype == dtype
    assert layer.get_seq_length() == 72 and layer.compressed_tokens == 64
    assert layer.keys.shape[-2] == 8 and torch.equal(keys[..., 64:, :], full[..., 64:, :])
    assert torch.allclose(keys.float(), full.float(), atol=0.05)  # 8 bits: close, not equal
    assert torch.allclose(values.float(), -full.float(), atol=0.05)
    layer.crop(-3)
    assert layer.get_seq_length() == 69 and layer.keys.shape[-2] == 5
    with pytest.raises(ValueError, match="compressed blocks"):
        layer.crop(-6)
    layer.reset()
    assert layer.get_seq_length() == 0 and not layer.blobs
    keys, _ = layer.update(steps[0], steps[0])
    assert keys.shape[-2] == 40 and layer.compressed_tokens == 32


def test_uncompressed_layer_is_exact():
    from kvc.hf_cache import KvcLayer
    layer = KvcLayer(None, block_tokens=4)
    k = torch.randn(1, 2, 10, 8)
    keys, values = layer.update(k, k + 1)
    assert torch.equal(keys, k) and torch.equal(values, k + 1) and not layer.blobs
