#!/usr/bin/env python3
"""make_model_config_corpus.py: regenerates tests/fuzz/corpus/model_config/ (config.json, GGUF).

Usage: tests/fuzz/make_model_config_corpus.py [--stories ../shared/data/stories260K.gguf]
           [--smollm2 ~/.cache/kvc/models/SmolLM2-135M-Instruct.Q4_1.gguf] [--out DIR]

Writes the published config.json files of open models (hf_*.json), malformed configs
(hf_malformed_*.json), and GGUF seeds holding only the header, metadata and tensor infos of the
real model files, never their tensor data: stories260K's exactly as in the file, SmolLM2's with
its tokenizer arrays cut to a few items so the seed stays small (gguf_*.gguf). Prefixes cut
inside the metadata and edited copies (other architectures, version 2, bad values) follow.
Every seed stays under 64 KiB. Crash reproducers (files named crash-*) are never touched.
Standard library only.
"""
import argparse
import json
import os
import struct

MAX_SEED_BYTES = 64 * 1024
ARRAY_ITEMS_KEPT = 16

# GGUF value types: fixed sizes and struct formats (8 = string, 9 = array).
FIXED = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<B", 10: "<Q",
         11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9

# Published config.json files (Hugging Face hub), as the model repositories give them.
HF_CONFIGS = {
    "smollm2_135m": {
        "_name_or_path": "HuggingFaceTB/SmolLM2-135M",
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "silu", "hidden_size": 576,
        "initializer_range": 0.041666666666666664, "intermediate_size": 1536,
        "is_llama_config": True, "max_position_embeddings": 8192, "model_type": "llama",
        "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3,
        "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_interleaved": False,
        "rope_scaling": None, "rope_theta": 100000, "tie_word_embeddings": True,
        "torch_dtype": "bfloat16", "transformers_version": "4.40.1", "use_cache": True,
        "vocab_size": 49152},
    "llama_3_1_8b": {
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
        "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
        "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
        "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
        "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
        "pretraining_tp": 1, "rms_norm_eps": 1e-05,
        "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192, "rope_type": "llama3"},
        "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.42.3", "use_cache": True, "vocab_size": 128256},
    "tinyllama_1_1b": {
        "_name_or_path": "TinyLlama/TinyLlama-1.1B-Chat-v1.0",
        "architectures": ["LlamaForCausalLM"], "attention_bias": False, "bos_token_id": 1,
        "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
        "intermediate_size": 5632, "max_position_embeddings": 2048, "model_type": "llama",
        "num_attention_heads": 32, "num_hidden_layers": 22, "num_key_value_heads": 4,
        "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000.0,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.35.0", "use_cache": True, "vocab_size": 32000},
    "mistral_7b_v0_1": {
        "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2,
        "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
        "intermediate_size": 14336, "max_position_embeddings": 32768, "model_type": "mistral",
        "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
        "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
        "transformers_version": "4.34.0.dev0", "use_cache": True, "vocab_size": 32000},
    "qwen2_5_0_5b_instruct": {
        "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0,
        "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu",
        "hidden_size": 896, "initializer_range": 0.02, "intermediate_size": 4864,
        "max_position_embeddings": 32768, "max_window_layers": 21, "model_type": "qwen2",
        "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768,
        "tie_word_embeddings": True, "torch_dtype": "bfloat16",
        "transformers_version": "4.43.1", "use_cache": True, "use_sliding_window": False,
        "vocab_size": 151936},
    "gemma_2_2b": {
        "architectures": ["Gemma2ForCausalLM"], "attention_bias": False,
        "attention_dropout": 0.0, "attn_logit_softcapping": 50.0, "bos_token_id": 2,
        "cache_implementation": "hybrid", "eos_token_id": 1, "final_logit_softcapping": 30.0,
        "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
        "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304,
        "initializer_range": 0.02, "intermediate_size": 9216, "max_position_embeddings": 8192,
        "model_type": "gemma2", "num_attention_heads": 8, "num_hidden_layers": 26,
        "num_key_value_heads": 4, "pad_token_id": 0, "query_pre_attn_scalar": 256,
        "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "sliding_window": 4096,
        "torch_dtype": "float32", "transformers_version": "4.42.4", "use_cache": True,
        "vocab_size": 256000},
    "deepseek_v2_lite": {
        "architectures": ["DeepseekV2ForCausalLM"], "attention_bias": False,
        "attention_dropout": 0.0, "aux_loss_alpha": 0.001, "bos_token_id": 100000,
        "eos_token_id": 100001, "first_k_dense_replace": 1, "hidden_act": "silu",
        "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 10944,
        "kv_lora_rank": 512, "max_position_embeddings": 163840, "model_type": "deepseek_v2",
        "moe_intermediate_size": 1408, "moe_layer_freq": 1, "n_group": 1,
        "n_routed_experts": 64, "n_shared_experts": 2, "norm_topk_prob": False,
        "num_attention_heads": 16, "num_experts_per_tok": 6, "num_hidden_layers": 27,
        "num_key_value_heads": 16, "pretraining_tp": 1, "q_lora_rank": None,
        "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "rms_norm_eps": 1e-06,
        "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707,
                         "mscale_all_dim": 0.707, "original_max_position_embeddings": 4096,
                         "type": "yarn"},
        "rope_theta": 10000, "routed_scaling_factor": 1.0, "scoring_func": "softmax",
        "seq_aux": True, "tie_word_embeddings": False, "topk_group": 1, "topk_method": "greedy",
        "torch_dtype": "bfloat16", "transformers_version": "4.33.1", "use_cache": True,
        "v_head_dim": 128, "vocab_size": 102400},
    "qwen_7b": {
        "architectures": ["QWenLMHeadModel"], "attn_dropout_prob": 0.0, "bf16": False,
        "emb_dropout_prob": 0.0, "fp16": False, "fp32": False, "hidden_size": 4096,
        "intermediate_size": 22016, "initializer_range": 0.02, "kv_channels": 128,
        "layer_norm_epsilon": 1e-06, "max_position_embeddings": 32768, "model_type": "qwen",
        "no_bias": True, "num_attention_heads": 32, "num_hidden_layers": 32,
        "onnx_safe": None, "rotary_emb_base": 10000, "rotary_pct": 1.0,
        "scale_attn_weights": True, "seq_length": 8192, "tie_word_embeddings": False,
        "tokenizer_class": "QWenTokenizer", "transformers_version": "4.32.0",
        "use_cache": True, "use_dynamic_ntk": True, "use_flash_attn": "auto",
        "use_logn_attn": True, "vocab_size": 151936},
}

# Malformed configs: the text itself (bytes), or an edit of a published config.
HF_MALFORMED_TEXT = {
    "empty": b"",
    "not_object": b"[1, 2, 3]",
    "truncated": json.dumps(HF_CONFIGS["smollm2_135m"], indent=2).encode()[:300],
    "deep_nesting": b'{"model_type": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    "invalid_utf8_name": b'{"model_type": "llama\xff\xfe", "num_hidden_layers": 2, '
                         b'"num_attention_heads": 4, "hidden_size": 64}',
    "nul_in_name": b'{"_name_or_path": "a\\u0000b", "model_type": "llama", '
                   b'"num_hidden_layers": 2, "num_attention_heads": 4, "hidden_size": 64}',
    "huge_numbers": b'{"model_type": "llama", "num_hidden_layers": 18446744073709551616, '
                    b'"num_attention_heads": 1e400, "hidden_size": -9223372036854775809}',
}


def edited_config(name, **changes):
    config = dict(HF_CONFIGS[name])
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    return json.dumps(config, indent=2).encode()


HF_MALFORMED_EDITS = {
    "layers_negative": ("smollm2_135m", {"num_hidden_layers": -30}),
    "layers_string": ("smollm2_135m", {"num_hidden_layers": "30"}),
    "layers_int32_max": ("smollm2_135m", {"num_hidden_layers": 2147483647}),
    "kv_heads_not_divisor": ("llama_3_1_8b", {"num_key_value_heads": 5}),
    "hidden_not_multiple": ("tinyllama_1_1b", {"hidden_size": 2047}),
    "no_head_dim_no_hidden": ("mistral_7b_v0_1", {"hidden_size": None}),
    "rope_theta_zero": ("mistral_7b_v0_1", {"rope_theta": 0}),
    "window_zero": ("mistral_7b_v0_1", {"sliding_window": 0}),
    "use_window_string": ("qwen2_5_0_5b_instruct", {"use_sliding_window": "yes"}),
    "latent_no_rope_dim": ("deepseek_v2_lite", {"qk_rope_head_dim": None}),
    "latent_int32_overflow": ("deepseek_v2_lite",
                              {"kv_lora_rank": 2147483647, "qk_rope_head_dim": 2147483647}),
    "model_type_number": ("gemma_2_2b", {"model_type": 2}),
}


class Gguf:
    """GGUF header, key/values (raw bytes, in file order) and tensor infos (raw bytes)."""

    def __init__(self, data):
        self.pos = 0
        self.data = data
        magic, self.version, self.tensor_count, kv_count = struct.unpack_from("<IIQQ", data, 0)
        assert magic == 0x46554747, "not a GGUF file"
        self.pos = 24
        self.kvs = []  # (key, type, raw value bytes)
        for _ in range(kv_count):
            key = self.string()
            (vtype,) = self.unpack("<I")
            begin = self.pos
            self.skip_value(vtype)
            self.kvs.append((key, vtype, data[begin:self.pos]))
        self.metadata_end = self.pos
        begin = self.pos
        for _ in range(self.tensor_count):
            self.string()
            (n_dims,) = self.unpack("<I")
            self.pos += 8 * n_dims + 4 + 8
        self.tensor_infos = data[begin:self.pos]

    def unpack(self, fmt):
        values = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return values

    def string(self):
        (n,) = self.unpack("<Q")
        self.pos += n
        return self.data[self.pos - n:self.pos].decode()

    def skip_value(self, vtype):
        if vtype in FIXED:
            self.pos += struct.calcsize(FIXED[vtype])
        elif vtype == STRING:
            self.string()
        else:
            item_type, count = self.unpack("<IQ")
            for _ in range(count):
                self.skip_value(item_type)

    def shortened_array(self, raw):
        """An array value with only its first ARRAY_ITEMS_KEPT items."""
        item_type, count = struct.unpack_from("<IQ", raw, 0)
        if count <= ARRAY_ITEMS_KEPT:
            return raw
        sub = Gguf.__new__(Gguf)
        sub.data, sub.pos = raw, 12
        for _ in range(ARRAY_ITEMS_KEPT):
            sub.skip_value(item_type)
        return struct.pack("<IQ", item_type, ARRAY_ITEMS_KEPT) + raw[12:sub.pos]


def gguf_string(text):
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def gguf_bytes(version, tensor_count, kvs, tensor_infos=b""):
    out = struct.pack("<IIQQ", 0x46554747, version, tensor_count, len(kvs))
    for key, vtype, raw in kvs:
        out += gguf_string(key) + struct.pack("<I", vtype) + raw
    return out + tensor_infos


def u32(v):
    return (4, struct.pack("<I", v))


def f32(v):
    return (6, struct.pack("<f", v))


def text(v):
    return (STRING, gguf_string(v))


def with_keys(kvs, changes):
    """kvs with the keys of changes set (appended when new) or dropped (value None)."""
    out, seen = [], set()
    for key, vtype, raw in kvs:
        seen.add(key)
        if key in changes:
            if changes[key] is not None:
                out.append((key, *changes[key]))
        else:
            out.append((key, vtype, raw))
    for key, value in changes.items():
        if key not in seen and value is not None:
            out.append((key, *value))
    return out


def renamed_arch(kvs, arch):
    """kvs of a llama file moved to architecture arch (llama.* keys renamed arch.*)."""
    out = []
    for key, vtype, raw in kvs:
        if key.startswith("llama."):
            key = arch + key[len("llama"):]
        out.append((key, vtype, raw))
    return with_keys(out, {"general.architecture": text(arch)})


def write(path, data):
    assert len(data) <= MAX_SEED_BYTES, f"{path}: {len(data)} bytes"
    with open(path, "wb") as f:
        f.write(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    home = os.path.expanduser("~")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stories",
                    default=os.path.join(here, "..", "..", "..", "shared", "data",
                                         "stories260K.gguf"))
    ap.add_argument("--smollm2",
                    default=os.path.join(os.environ.get("KVC_MODEL_DIR",
                                                        os.path.join(home, ".cache", "kvc",
                                                                     "models")),
                                         "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--out", default=os.path.join(here, "corpus", "model_config"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):
        if not name.startswith("crash-"):
            os.remove(os.path.join(args.out, name))

    def out(name):
        return os.path.join(args.out, name)

    for name, config in HF_CONFIGS.items():
        write(out(f"hf_{name}.json"), json.dumps(config, indent=2).encode() + b"\n")
    for name, data in HF_MALFORMED_TEXT.items():
        write(out(f"hf_malformed_{name}.json"), data)
    for name, (base, changes) in HF_MALFORMED_EDITS.items():
        write(out(f"hf_malformed_{name}.json"), edited_config(base, **changes))

    # stories260K: the file's first bytes, up to the end of its tensor infos, as they are.
    with open(args.stories, "rb") as f:
        stories_file = f.read()
    stories = Gguf(stories_file)
    prefix = stories_file[:stories.pos]
    write(out("gguf_stories260k_header.gguf"), prefix)
    # Cut inside the metadata: inside the header, a key, the token array, the last value.
    for cut in (20, 40, 1000, stories.metadata_end - 3):
        write(out(f"gguf_stories260k_truncated_{cut}.gguf"), prefix[:cut])
    write(out("gguf_stories260k_version2.gguf"), prefix[:4] + struct.pack("<I", 2) + prefix[8:])
    write(out("gguf_stories260k_version1.gguf"), prefix[:4] + struct.pack("<I", 1) + prefix[8:])

    # SmolLM2: every key/value and tensor info of the file, its tokenizer arrays cut short.
    with open(args.smollm2, "rb") as f:
        smol_file = f.read(8 << 20)
    smol = Gguf(smol_file)
    kvs = [(k, t, smol.shortened_array(raw) if t == ARRAY else raw) for k, t, raw in smol.kvs]
    write(out("gguf_smollm2_135m_header.gguf"),
          gguf_bytes(smol.version, smol.tensor_count, kvs, smol.tensor_infos))
    # The key/values alone (no tensor infos), as the adapter reads them.
    small = gguf_bytes(smol.version, 0, kvs)
    write(out("gguf_smollm2_135m_metadata.gguf"), small)

    # Other architectures: the SmolLM2 keys renamed, with the keys the reader looks for.
    variants = {
        "gemma2_sliding_window": renamed_arch(kvs, "gemma2"),
        "deepseek2_latent": renamed_arch(kvs, "deepseek2"),
        "qwen2_key_length": renamed_arch(kvs, "qwen2"),
        "llama_no_kv_heads": with_keys(kvs, {"llama.attention.head_count_kv": None}),
        "llama_no_block_count": with_keys(kvs, {"llama.block_count": None}),
        "llama_freq_base_negative": with_keys(kvs, {"llama.rope.freq_base": f32(-1.0)}),
        "llama_heads_not_divisor": with_keys(kvs, {"llama.attention.head_count_kv": u32(4)}),
        "llama_block_count_u32_max": with_keys(kvs, {"llama.block_count": u32(0xFFFFFFFF)}),
        "llama_block_count_array": with_keys(
            kvs, {"llama.block_count": (ARRAY, struct.pack("<IQ", 4, 2) + b"\x1e\0\0\0" * 2)}),
        "no_architecture": with_keys(kvs, {"general.architecture": None}),
    }
    variants["gemma2_sliding_window"] = with_keys(
        variants["gemma2_sliding_window"],
        {"gemma2.attention.sliding_window": u32(4096), "gemma2.attention.key_length": u32(64)})
    variants["deepseek2_latent"] = with_keys(
        variants["deepseek2_latent"], {"deepseek2.attention.kv_lora_rank": u32(512)})
    variants["qwen2_key_length"] = with_keys(
        variants["qwen2_key_length"], {"qwen2.attention.key_length": u32(64)})
    for name, variant in variants.items():
        write(out(f"gguf_{name}.gguf"), gguf_bytes(smol.version, 0, variant))
    # A duplicate key, an unknown value type, a bool of value 2, nested arrays, a huge length.
    general = kvs[:3]
    write(out("gguf_duplicate_key.gguf"), gguf_bytes(3, 0, general + general[:1]))
    write(out("gguf_unknown_type.gguf"), gguf_bytes(3, 0, general + [("x", 13, b"\0" * 8)]))
    write(out("gguf_bool_two.gguf"), gguf_bytes(3, 0, general + [("x", 7, b"\x02")]))
    nested = struct.pack("<IQ", ARRAY, 1) * 9 + struct.pack("<IQ", 4, 0)
    write(out("gguf_nested_arrays.gguf"), gguf_bytes(3, 0, general + [("x", ARRAY, nested)]))
    write(out("gguf_huge_string.gguf"),
          gguf_bytes(3, 0, general + [("x", STRING, struct.pack("<Q", 1 << 62))]))


if __name__ == "__main__":
    main()
