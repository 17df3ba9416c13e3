# test_kv_utils.py: transformers caches: extract, save/load (CLI layout), adapter check, stats.
import json

import numpy as np
import pytest

import kvc
from conftest import require_torch_stack

torch, transformers = require_torch_stack()
from kvc import kv_utils  # noqa: E402  (needs torch)

TEXT = "Once upon a time, there was a little girl named Lily. She loved to play outside."


@pytest.fixture(scope="module")
def extracted(stories_model):
    model, tokenizer = stories_model
    ids = tokenizer(TEXT, return_tensors="pt").input_ids
    cache, meta = kv_utils.extract_kv_cache(model, ids, model_name="stories260K")
    return ids, cache, meta


def test_extract_gives_the_models_shape_and_the_cache_generate_would_use(stories_model,
                                                                          extracted):
    model, _ = stories_model
    ids, cache, meta = extracted
    assert (meta.num_layers, meta.num_kv_heads, meta.seq_len, meta.head_dim) == (
        model.config.num_hidden_layers, model.config.num_key_value_heads, ids.shape[1],
        model.config.hidden_size // model.config.num_attention_heads)
    assert meta.dtype == "float32" and meta.model_name == "stories260K"
    with torch.no_grad():  # the extracted cache continues the text as the model would
        full = model(torch.cat([ids, torch.tensor([[5]])], 1)).logits[0, -1]
        rebuilt = kv_utils.cache_from_tensors(*kv_utils.cache_tensors(cache))
        step = model(torch.tensor([[5]]), past_key_values=rebuilt).logits[0, -1]
    assert torch.allclose(full, step, atol=1e-4)


def test_save_and_load_round_trip_in_the_cli_layout(extracted, tmp_path, cli):
    _, cache, meta = extracted
    path = tmp_path / "story.safetensors"
    assert kv_utils.save_kv_cache(cache, path, "stories260K") == meta
    sidecar = json.loads((tmp_path / "story.metadata.json").read_text())
    assert sidecar  # the sidecar kvc.save_cache writes, read back by the C++ loader below
    header_size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(path.read_bytes()[8:8 + header_size])
    assert header["layer_0_key"]["shape"] == [1, meta.num_kv_heads, meta.seq_len, meta.head_dim]
    assert f"layer_{meta.num_layers - 1}_value" in header
    loaded, loaded_meta = kv_utils.load_kv_cache(path)
    assert loaded_meta == meta
    for a, b in zip(*(kv_utils.cache_tensors(c) for c in (cache, loaded))):
        for x, y in zip(a, b):
            assert torch.equal(x, y)
    import subprocess
    out = subprocess.run([cli, "compress", str(path), "-o", str(tmp_path / "s.kvc"), "--json"],
                         capture_output=True, text=True, check=True)
    assert json.loads(out.stdout)["compressed_size_bytes"] > 0


def test_validate_shape_against_adapters(extracted):
    _, cache, _ = extracted
    ok, errors = kv_utils.validate_kv_cache_shape(cache, kvc.find_adapter("stories260K"))
    assert ok and errors == []
    ok, errors = kv_utils.validate_kv_cache_shape(cache, kvc.find_adapter("smollm2-135m"))
    assert not ok
    assert any(e.startswith("num_layers 5 != 30") for e in errors), errors
    assert any(e.startswith("head_dim 8 != 64") for e in errors), errors


def test_stats_match_numpy(extracted):
    _, cache, meta = extracted
    keys, values = (torch.stack(t).numpy() for t in kv_utils.cache_tensors(cache))
    both = np.concatenate([keys.ravel(), values.ravel()]).astype(np.float64)
    stats = kv_utils.compute_kv_cache_stats(cache)
    assert stats["total_elements"] == both.size == 2 * meta.num_layers * meta.num_kv_heads * \
        meta.seq_len * meta.head_dim
    assert stats["total_bytes"] == both.size * 4
    assert stats["value_mean"] == pytest.approx(both.mean(), rel=1e-4, abs=1e-6)
    assert stats["value_std"] == pytest.approx(both.std(ddof=1), rel=1e-4)
    assert stats["value_max"] == pytest.approx(both.max())
    assert stats["key_tensor_abs_max"] == pytest.approx(np.abs(keys).max())


def test_cache_blob_round_trip_is_bit_exact_at_16_bits_and_close_at_8(extracted):
    _, cache, _ = extracted
    originals = kv_utils.cache_tensors(cache)
    lossless = kv_utils.decompress_kv_cache(
        kv_utils.compress_kv_cache(cache, kvc.CompressParams(key_bits=16, value_bits=16)))
    for a, b in zip(originals[0] + originals[1], sum(kv_utils.cache_tensors(lossless), [])):
        assert torch.equal(a, b)
    blob = kv_utils.compress_kv_cache(cache, kvc.CompressParams(key_bits=8, value_bits=8),
                                      dtype=torch.float16)
    assert kvc.inspect(blob).dtype_name == "float16"
    lossy = kv_utils.cache_tensors(kv_utils.decompress_kv_cache(blob))
    for a, b in zip(originals[0], lossy[0]):
        assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), 0) > 0.999
