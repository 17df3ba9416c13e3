// attention_mass.cuh: device kernel of token selection's softmax and aggregation: the attention
// mass each token receives from the queries of its KV head, from the cuBLAS logits.
#pragma once

#include <cstdint>

namespace kvc::kernels {

// One block per (query head, query) row of logits [query_heads][num_queries][tokens]: the row's
// softmax (max and sum reduced in the block, exp and sum in double), each probability times
// weight added into mass[kv_head][token] (double atomicAdd).
__global__ void attention_mass_kernel(const float* logits, uint32_t num_queries, uint32_t tokens,
                                      uint32_t group, double weight, double* mass);

}  // namespace kvc::kernels
