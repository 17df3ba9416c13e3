# test_adapters.py: the model adapter registry and adapters built from config.json and GGUF.
import os
from pathlib import Path

import pytest

import kvc

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
STORIES_GGUF = SHARED / "stories260K.gguf"


def test_the_registry_lists_seed_and_open_models_with_their_shapes():
    by_name = {a.name: a for a in kvc.adapters()}
    assert len(by_name) >= 21
    llama = by_name["llama-3-8b"]
    assert (llama.num_layers, llama.num_query_heads, llama.num_kv_heads, llama.head_dim) == \
        (32, 32, 8, 128)
    assert llama.attention_type_name == "causal" and llama.is_builtin
    mistral = kvc.find_adapter("Mistral-7B")
    assert mistral.attention_type_name == "sliding-window" and mistral.window_tokens == 4096


def test_an_unknown_name_raises_with_the_status_and_a_message():
    with pytest.raises(kvc.KvcError) as e:
        kvc.find_adapter("no-such-model")
    assert e.value.status_name == "KVC_ERR_INVALID_ARGUMENT"
    assert "no-such-model" in e.value.message


def test_an_adapter_is_built_from_a_config_json_dict():
    a = kvc.adapter_from_hf_config({
        "model_type": "llama", "num_hidden_layers": 30, "num_attention_heads": 9,
        "num_key_value_heads": 3, "hidden_size": 576, "rope_theta": 100000.0,
        "max_position_embeddings": 8192})
    assert (a.num_layers, a.num_query_heads, a.num_kv_heads, a.head_dim) == (30, 9, 3, 64)
    assert not a.is_builtin


def test_a_config_without_layers_names_the_missing_field():
    with pytest.raises(kvc.KvcError) as e:
        kvc.adapter_from_hf_config('{"model_type": "llama", "num_attention_heads": 8}')
    assert "num_hidden_layers" in e.value.message


@pytest.mark.skipif(not STORIES_GGUF.is_file(), reason=f"{STORIES_GGUF} not found")
def test_an_adapter_is_built_from_the_real_stories260k_gguf():
    a = kvc.adapter_from_gguf(os.fspath(STORIES_GGUF))
    assert (a.num_layers, a.num_query_heads, a.num_kv_heads, a.head_dim) == (5, 8, 4, 8)
