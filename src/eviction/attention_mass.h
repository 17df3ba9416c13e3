// attention_mass.h: softmax attention of query vectors over one layer's keys, and the attention
// mass each token receives, averaged over the queries and the query heads of each KV head.
#pragma once

#include <cstdint>
#include <vector>

#include "core/cache_view.h"
#include "eviction/queries.h"

namespace kvc {

// One KV head's keys as float, [tokens][head_dim] row-major.
void load_head_f32(const TensorView& tensor, uint32_t head, uint32_t tokens, uint32_t head_dim,
                   std::vector<float>& out);

// p[t] = softmax_t(q . k_t / sqrt(head_dim)) over the given rows of keys ([tokens][head_dim]).
void attention_probs(const float* query, const float* keys, uint32_t tokens, uint32_t head_dim,
                     double* p);

// Mean attention probability of every token under the layer's queries, per KV head:
// out[h * tokens + t], each head's row summing to 1. Query head q reads KV head
// q / (num_query_heads / kv_heads). Throws Error(INVALID_ARGUMENT) for queries that do not fit.
std::vector<double> attention_mass(const TensorView& keys, uint32_t kv_heads, uint32_t tokens,
                                   uint32_t head_dim, const QueryLayer& queries);

// Throws Error(KVC_ERR_INVALID_ARGUMENT) naming the field when queries do not fit a cache of
// kv_heads heads of head_dim (heads not a multiple, head_dim differs, no queries).
void check_queries_fit(const QueryView& queries, uint32_t kv_heads, uint32_t head_dim);

}  // namespace kvc
