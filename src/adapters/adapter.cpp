// adapter.cpp: attention type names, adapter validation, registry lookup by name.
#include "adapters/adapter.h"

#include <cctype>
#include <string>

#include "core/error.h"

namespace kvc::adapters {
namespace {

std::string lower(std::string_view text, bool drop_separators) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    if (drop_separators && (c == '-' || c == '_' || c == '.' || c == ' ')) continue;
    out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

void require_count(const Adapter& a, int64_t value, const char* field) {
  require(value >= 0,
          "adapter " + a.name + ": " + field + " " + std::to_string(value) + " is negative");
}

bool is_valid_bits(int32_t bits) {
  return bits == 2 || bits == 3 || bits == 4 || bits == 8 || bits == 16;
}

}  // namespace

const char* attention_type_name(AttentionType type) {
  switch (type) {
    case AttentionType::kCausal:
      return "causal";
    case AttentionType::kBidirectional:
      return "bidirectional";
    case AttentionType::kSlidingWindow:
      return "sliding-window";
    case AttentionType::kSparse:
      return "sparse";
    case AttentionType::kLatent:
      return "latent";
  }
  return "unknown";
}

int64_t Adapter::cached_elements_per_token_layer() const {
  if (attention == AttentionType::kLatent) return int64_t{latent_dim} + rope_key_dim;
  return int64_t{2} * num_kv_heads * head_dim;
}

PolicySettings Adapter::policy_settings() const {
  PolicySettings s;
  s.key_bits = policy.may_compress_keys ? policy.key_bits : 16;
  s.value_bits = policy.value_bits;
  s.group_size = policy.group_size;
  s.recent_full_precision_tokens = policy.recent_tokens;
  s.attention_threshold = policy.attention_threshold;
  s.sink_tokens = static_cast<uint32_t>(policy.sink_tokens);
  s.recent_always_kept_tokens = static_cast<uint32_t>(policy.recent_tokens);
  s.sliding_window =
      attention == AttentionType::kSlidingWindow ? static_cast<uint32_t>(window_tokens) : 0;
  return s;
}

std::string Adapter::cache_description() const {
  if (attention == AttentionType::kLatent) {
    return "one compressed latent of " + std::to_string(latent_dim) + " + a shared RoPE key of " +
           std::to_string(rope_key_dim) + " elements per token and layer (no per-head K and V)";
  }
  if (!has_shape()) return "keys and values of a shape taken from the input cache";
  std::string text = "keys and values of " + std::to_string(num_kv_heads) + " kv heads x " +
                     std::to_string(head_dim) + " per token and layer";
  if (attention == AttentionType::kSlidingWindow) {
    text += ", at most the last " + std::to_string(window_tokens) + " tokens";
  }
  return text;
}

void validate(const Adapter& a) {
  require(!a.name.empty(), "adapter name is empty");
  require(!a.family.empty(), "adapter " + a.name + ": family is empty");
  const auto type = static_cast<int32_t>(a.attention);
  require(type >= 0 && type <= static_cast<int32_t>(AttentionType::kLatent),
          "adapter " + a.name + ": attention type " + std::to_string(type) + " is unknown");
  require_count(a, a.window_tokens, "window_tokens");
  require_count(a, a.num_layers, "num_layers");
  require_count(a, a.num_query_heads, "num_query_heads");
  require_count(a, a.num_kv_heads, "num_kv_heads");
  require_count(a, a.head_dim, "head_dim");
  require_count(a, a.context_tokens, "context_tokens");
  require_count(a, a.latent_dim, "latent_dim");
  require_count(a, a.rope_key_dim, "rope_key_dim");
  require(a.rope_theta >= 0.0,
          "adapter " + a.name + ": rope_theta " + std::to_string(a.rope_theta) + " is negative");
  if (a.attention == AttentionType::kSlidingWindow) {
    require(a.window_tokens > 0, "adapter " + a.name +
                                     ": sliding-window attention needs "
                                     "window_tokens > 0");
  } else {
    require(a.window_tokens == 0, "adapter " + a.name + ": window_tokens " +
                                      std::to_string(a.window_tokens) +
                                      " without sliding-window attention");
  }
  if (a.attention == AttentionType::kLatent) {
    require(a.latent_dim > 0 && a.rope_key_dim >= 0,
            "adapter " + a.name + ": latent attention needs latent_dim > 0");
    const int64_t cached = int64_t{a.latent_dim} + a.rope_key_dim;  // both fit int32, not the sum
    require(a.head_dim == 0 || (a.num_kv_heads == 1 && a.head_dim == cached),
            "adapter " + a.name + ": latent attention caches 1 head of latent_dim + " +
                "rope_key_dim = " + std::to_string(cached) + " elements, not " +
                std::to_string(a.num_kv_heads) + " x " + std::to_string(a.head_dim));
  } else {
    require(a.latent_dim == 0 && a.rope_key_dim == 0,
            "adapter " + a.name + ": latent_dim and rope_key_dim are for latent attention only");
    if (a.num_kv_heads > 0 && a.num_query_heads > 0) {
      require(a.num_query_heads % a.num_kv_heads == 0,
              "adapter " + a.name + ": num_kv_heads " + std::to_string(a.num_kv_heads) +
                  " does not divide num_query_heads " + std::to_string(a.num_query_heads));
    }
  }
  const Policy& p = a.policy;
  require(p.attention_threshold > 0.0f && p.attention_threshold <= 1.0f,
          "adapter " + a.name + ": attention_threshold " + std::to_string(p.attention_threshold) +
              " is outside (0, 1]");
  require_count(a, p.sink_tokens, "sink_tokens");
  require_count(a, p.recent_tokens, "recent_tokens");
  require(is_valid_bits(p.key_bits), "adapter " + a.name + ": key_bits " +
                                         std::to_string(p.key_bits) + " is not 2, 3, 4, 8 or 16");
  require(is_valid_bits(p.value_bits), "adapter " + a.name + ": value_bits " +
                                           std::to_string(p.value_bits) +
                                           " is not 2, 3, 4, 8 or 16");
  require(p.group_size == 32 || p.group_size == 64 || p.group_size == 128,
          "adapter " + a.name + ": group_size " + std::to_string(p.group_size) +
              " is not 32, 64 or 128");
  require(p.may_compress_keys || p.key_bits == 16,
          "adapter " + a.name + ": keys that may not be compressed need key_bits 16");
}

const Adapter* find(std::string_view name) {
  const std::string wanted = lower(name, false);
  for (const Adapter& a : registry()) {
    if (lower(a.name, false) == wanted) return &a;
  }
  const std::string loose = lower(name, true);
  if (loose.empty()) return nullptr;
  for (const Adapter& a : registry()) {
    if (lower(a.name, true) == loose) return &a;
  }
  return nullptr;
}

}  // namespace kvc::adapters
