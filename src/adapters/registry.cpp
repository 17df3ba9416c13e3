// registry.cpp: the built-in adapters: the models of the Awareness SDK's model table (thresholds
// and attention labels) and open models with their published configs.
#include <vector>

#include "adapters/adapter.h"

namespace kvc::adapters {
namespace {

constexpr AttentionType kCausal = AttentionType::kCausal;
constexpr AttentionType kBidirectional = AttentionType::kBidirectional;
constexpr AttentionType kSlidingWindow = AttentionType::kSlidingWindow;
constexpr AttentionType kLatent = AttentionType::kLatent;

// The Awareness SDK's table recommends a threshold for its 16 models; the others get the default.
constexpr float kDefaultThreshold = 0.90f;

// A model whose architecture is not public: policy only; the shape comes from the input.
Adapter closed(const char* name, const char* family, AttentionType attention, float threshold,
               const char* source) {
  Adapter a;
  a.name = name;
  a.family = family;
  a.attention = attention;
  a.policy.attention_threshold = threshold;
  a.source = source;
  return a;
}

// A model with a published config: layers, query heads, kv heads, head_dim, RoPE base,
// context length, and a sliding window (0 = none).
Adapter open(const char* name, const char* family, int32_t layers, int32_t query_heads,
             int32_t kv_heads, int32_t head_dim, double rope_theta, int32_t context_tokens,
             int32_t window_tokens, float threshold, const char* source) {
  Adapter a;
  a.name = name;
  a.family = family;
  a.attention = window_tokens > 0 ? kSlidingWindow : kCausal;
  a.window_tokens = window_tokens;
  a.num_layers = layers;
  a.num_query_heads = query_heads;
  a.num_kv_heads = kv_heads;
  a.head_dim = head_dim;
  a.rope_theta = rope_theta;
  a.context_tokens = context_tokens;
  a.policy.attention_threshold = threshold;
  a.source = source;
  return a;
}

// Multi-head latent attention: what is cached per token and layer is the compressed latent
// (kv_lora_rank elements) plus the decoupled RoPE key (qk_rope_head_dim), shared by all heads;
// kvc sees it as 1 kv head of latent_dim + rope_key_dim elements.
Adapter latent(const char* name, int32_t layers, int32_t query_heads, int32_t latent_dim,
               int32_t rope_key_dim, double rope_theta, int32_t context_tokens, float threshold,
               const char* source) {
  Adapter a = open(name, "deepseek", layers, query_heads, 1, latent_dim + rope_key_dim, rope_theta,
                   context_tokens, 0, threshold, source);
  a.attention = kLatent;
  a.latent_dim = latent_dim;
  a.rope_key_dim = rope_key_dim;
  return a;
}

std::vector<Adapter> build_registry() {
  // clang-format off
  return {
    // The Awareness SDK's model table (thresholds and attention labels); closed models: policy only.
    closed("gpt-3.5", "gpt", kCausal, 0.90f, "Awareness SDK model table (closed model: policy only)"),
    closed("gpt-4", "gpt", kCausal, 0.92f, "Awareness SDK model table (closed model: policy only)"),
    closed("gpt-4o", "gpt", kCausal, 0.93f, "Awareness SDK model table (closed model: policy only)"),
    // The table labels the Claude models bidirectional; kept as given (not a published figure).
    closed("claude-3-opus", "claude", kBidirectional, 0.91f, "Awareness SDK model table (closed model: policy only)"),
    closed("claude-3-sonnet", "claude", kBidirectional, 0.90f, "Awareness SDK model table (closed model: policy only)"),
    closed("claude-3.5-sonnet", "claude", kBidirectional, 0.92f, "Awareness SDK model table (closed model: policy only)"),
    // Its models with open weights: threshold from the table, shapes from their config.json.
    //   name             family     L   qH  kvH  hd   rope_theta  context  window thr
    open("llama-2-7b",    "llama",   32, 32, 32, 128, 10000.0,     4096,    0,   0.88f,
         "Awareness SDK model table; meta-llama/Llama-2-7b-hf config.json"),
    open("llama-2-70b",   "llama",   80, 64,  8, 128, 10000.0,     4096,    0,   0.90f,
         "Awareness SDK model table; meta-llama/Llama-2-70b-hf config.json"),
    open("llama-3-8b",    "llama",   32, 32,  8, 128, 500000.0,    8192,    0,   0.89f,
         "Awareness SDK model table; meta-llama/Meta-Llama-3-8B config.json"),
    open("llama-3.1-70b", "llama",   80, 64,  8, 128, 500000.0,    131072,  0,   0.91f,
         "Awareness SDK model table; meta-llama/Llama-3.1-70B config.json (rope_scaling llama3)"),
    open("mistral-7b",    "mistral", 32, 32,  8, 128, 10000.0,     32768,   4096, 0.87f,
         "Awareness SDK model table; mistralai/Mistral-7B-v0.1 config.json (sliding_window 4096)"),
    // Mixtral-8x7B-v0.1's config.json has sliding_window null and rope_theta 1e6; the window of
    // 4096 is the table's figure (and the Mixtral paper's inherited Mistral design).
    open("mixtral-8x7b",  "mistral", 32, 32,  8, 128, 1000000.0,   32768,   4096, 0.88f,
         "Awareness SDK model table; mistralai/Mixtral-8x7B-v0.1 config.json, window from the Awareness SDK model table"),
    // Qwen (1st generation) config.json: hidden 4096, kv_channels 128, rotary_emb_base 10000,
    // seq_length 8192; full multi-head attention.
    open("qwen-7b",       "qwen",    32, 32, 32, 128, 10000.0,     8192,    0,   0.89f,
         "Awareness SDK model table; Qwen/Qwen-7B config.json"),
    open("qwen-2.5-72b",  "qwen",    80, 64,  8, 128, 1000000.0,   131072,  0,   0.91f,
         "Awareness SDK model table; Qwen/Qwen2.5-72B config.json (use_sliding_window false)"),
    // DeepSeek-V2/V3: the table says sparse (learned); their attention is MLA, cached as a latent.
    latent("deepseek-v2", 60, 128, 512, 64, 10000.0, 163840, 0.85f,
           "Awareness SDK model table; deepseek-ai/DeepSeek-V2 config.json (kv_lora_rank 512, qk_rope_head_dim 64)"),
    latent("deepseek-v3", 61, 128, 512, 64, 10000.0, 163840, 0.86f,
           "Awareness SDK model table; deepseek-ai/DeepSeek-V3 config.json (kv_lora_rank 512, qk_rope_head_dim 64)"),
    // Open models beyond the table: default threshold.
    open("tinyllama-1.1b", "llama",  22, 32,  4,  64, 10000.0,     2048,    0,   kDefaultThreshold,
         "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json"),
    open("qwen-2.5-0.5b", "qwen",    24, 14,  2,  64, 1000000.0,   32768,   0,   kDefaultThreshold,
         "Qwen/Qwen2.5-0.5B config.json (hidden 896)"),
    open("qwen-2.5-7b",   "qwen",    28, 28,  4, 128, 1000000.0,   131072,  0,   kDefaultThreshold,
         "Qwen/Qwen2.5-7B config.json (hidden 3584)"),
    open("smollm2-135m",  "llama",   30,  9,  3,  64, 100000.0,    8192,    0,   kDefaultThreshold,
         "HuggingFaceTB/SmolLM2-135M config.json (hidden 576)"),
    // llama2.c stories260K: dim 64, n_heads 8, n_kv_heads 4, max_seq_len 512 (its GGUF
    // conversion records context_length 2048).
    open("stories260k",   "llama",    5,  8,  4,   8, 10000.0,     512,     0,   kDefaultThreshold,
         "karpathy/tinyllamas stories260K (llama2.c ModelArgs)"),
  };
  // clang-format on
}

}  // namespace

std::span<const Adapter> registry() {
  static const std::vector<Adapter> adapters = build_registry();
  return adapters;
}

}  // namespace kvc::adapters
