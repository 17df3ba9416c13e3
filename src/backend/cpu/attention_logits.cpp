// attention_logits.cpp: attention logits of every query over every key, on the CPU.
#include "backend/cpu/attention_logits.h"

#include <cmath>

namespace kvc::cpu {

void attention_logits(const float* keys, const float* queries, uint32_t kv_heads,
                      uint32_t query_heads, uint32_t num_queries, uint32_t tokens,
                      uint32_t head_dim, float* logits) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  const uint32_t group = query_heads / kv_heads;
  for (uint32_t qh = 0; qh < query_heads; ++qh) {
    const float* head_keys = keys + uint64_t{qh / group} * tokens * head_dim;
    for (uint32_t i = 0; i < num_queries; ++i) {
      const float* q = queries + (uint64_t{qh} * num_queries + i) * head_dim;
      float* out = logits + (uint64_t{qh} * num_queries + i) * tokens;
      for (uint32_t t = 0; t < tokens; ++t) {
        const float* k = head_keys + uint64_t{t} * head_dim;
        float dot = 0.0f;
        for (uint32_t d = 0; d < head_dim; ++d) dot += q[d] * k[d];
        out[t] = static_cast<float>(dot * scale);
      }
    }
  }
}

}  // namespace kvc::cpu
