// attention_logits.h: attention logits q . k / sqrt(head_dim) of every query over every key, the
// CPU twin of the CUDA plugin's cuBLAS entry point (eviction/attention_mass.cpp's logit step).
#pragma once

#include <cstdint>

namespace kvc::cpu {

// keys [kv_heads][tokens][head_dim], queries [query_heads][num_queries][head_dim], packed float;
// logits[(qh*num_queries + i)*tokens + t] for query head qh reading KV head
// qh / (query_heads / kv_heads). The dot product is summed in float in index order, as
// attention_probs() does, then scaled in double and rounded to float.
void attention_logits(const float* keys, const float* queries, uint32_t kv_heads,
                      uint32_t query_heads, uint32_t num_queries, uint32_t tokens,
                      uint32_t head_dim, float* logits);

// The softmax of each logits row and the mean over the query heads of each KV head and the
// queries: mass[kv_head * tokens + t], as eviction/attention_mass.cpp aggregates (exp, sum and
// mass in double); the CPU twin of the plugin's kvc_cuda_plugin_attention_mass.
void attention_mass_from_logits(const float* logits, uint32_t kv_heads, uint32_t query_heads,
                                uint32_t num_queries, uint32_t tokens, double* mass);

}  // namespace kvc::cpu
