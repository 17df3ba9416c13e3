// adapter.h: kvc::adapters::Adapter, what kvc knows about one model: shape, attention, policy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace kvc::adapters {

// How a model's attention reads its cache; numbered as KVC_ATTENTION_* in kvc.h.
enum class AttentionType : int32_t {
  kCausal = 0,         // every earlier token
  kBidirectional = 1,  // every token (the Awareness SDK table's label for Claude)
  kSlidingWindow = 2,  // the last window_tokens tokens only
  kSparse = 3,         // a learned subset of tokens
  kLatent = 4,         // multi-head latent attention (DeepSeek MLA): one compressed latent cached
};

// "causal", "bidirectional", "sliding-window", "sparse", "latent"; "unknown" otherwise.
const char* attention_type_name(AttentionType type);

// What compression of this model's cache should do unless the caller says otherwise.
struct Policy {
  float attention_threshold = 0.90f;  // share of attention mass the kept tokens must cover
  int32_t sink_tokens = 4;            // first tokens always kept (attention sinks)
  int32_t recent_tokens = 64;         // newest tokens always kept, in full precision
  int32_t key_bits = 4;
  int32_t value_bits = 4;
  int32_t group_size = 64;
  bool may_compress_keys = true;  // false: keys must stay unquantized
};

// The compress settings a model's policy asks for: keys stay unquantized (16 bits) where the
// model may not compress them; the recent tokens are both kept and in full precision; a
// sliding-window model drops what its window never reads.
struct PolicySettings {
  int32_t key_bits = 4;
  int32_t value_bits = 4;
  int32_t group_size = 64;
  int32_t recent_full_precision_tokens = 0;
  float attention_threshold = 0.90f;
  uint32_t sink_tokens = 0;
  uint32_t recent_always_kept_tokens = 0;
  uint32_t sliding_window = 0;
};

// One model. Shape fields are 0 where the model's architecture is not public: the shape is then
// taken from the input cache, and only the policy applies. Built once, never changed: share it.
struct Adapter {
  std::string name;    // registry key, e.g. "llama-3-8b"; found case-insensitively
  std::string family;  // "llama", "mistral", "qwen", "deepseek", "gpt", "claude", ...
  AttentionType attention = AttentionType::kCausal;
  int32_t window_tokens = 0;    // sliding-window attention only; else 0
  int32_t num_layers = 0;       // 0 = unknown
  int32_t num_query_heads = 0;  // 0 = unknown
  int32_t num_kv_heads = 0;     // heads of the cache; 1 for latent attention
  int32_t head_dim = 0;         // elements per cached head and token (latent: latent + rope key)
  double rope_theta = 0.0;      // RoPE base frequency; 0 = unknown or no RoPE
  int32_t context_tokens = 0;   // maximum positions the model was built for; 0 = unknown
  int32_t latent_dim = 0;       // latent attention: kv_lora_rank, the cached compressed latent
  int32_t rope_key_dim = 0;     // latent attention: the decoupled RoPE key cached beside it
  Policy policy;
  std::string source;  // where the figures come from (a model card, a config.json, a file)

  // Whether layers, heads and head_dim are known (else they come from the input cache).
  bool has_shape() const { return num_layers > 0 && num_kv_heads > 0 && head_dim > 0; }
  // Cached elements per token and layer, keys and values together (0 when unknown). Latent
  // attention caches one vector of latent_dim + rope_key_dim elements instead of K and V.
  int64_t cached_elements_per_token_layer() const;
  // What the cache of this model holds, in words.
  std::string cache_description() const;
  // The compress settings the policy asks for (see PolicySettings).
  struct PolicySettings policy_settings() const;
};

// Throws Error(KVC_ERR_INVALID_ARGUMENT, ...) naming the first inconsistent field: counts that
// are negative, kv heads that do not divide query heads, a window without sliding-window
// attention, a threshold outside (0, 1], bits other than 2, 3, 4, 8 or 16, ...
void validate(const Adapter& adapter);

// The built-in registry (registry.cpp): every model of the Awareness SDK's model table plus open
// models with their published configs, in a fixed order. Names are unique, also when compared
// case-insensitively.
std::span<const Adapter> registry();

// The registry entry named name, compared case-insensitively; failing that, ignoring '-', '_',
// '.' and ' ' too ("Qwen2.5-72B" finds "qwen-2.5-72b"). nullptr when none matches.
const Adapter* find(std::string_view name);

// An adapter from the text of a Hugging Face config.json (hf_config.cpp). Fields read:
// model_type, num_hidden_layers, num_attention_heads, num_key_value_heads (default: attention
// heads), head_dim (default hidden_size / heads), rope_theta, sliding_window (with
// use_sliding_window when present), max_position_embeddings, and for latent attention
// kv_lora_rank and qk_rope_head_dim. The name is _name_or_path, else model_type; the policy is
// that of the registry entry of that name, else the defaults.
// Throws KVC_ERR_CORRUPT_DATA for text that is not a JSON object, KVC_ERR_INVALID_ARGUMENT
// naming the field that is missing or invalid.
Adapter from_hf_config(std::string_view json_text);

}  // namespace kvc::adapters
