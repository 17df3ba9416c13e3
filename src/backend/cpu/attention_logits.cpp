// attention_logits.cpp: attention logits of every query over every key, and their softmax
// aggregated into attention mass per token, on the CPU.
#include "backend/cpu/attention_logits.h"

#include <algorithm>
#include <cmath>
#include <vector>

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

void attention_mass_from_logits(const float* logits, uint32_t kv_heads, uint32_t query_heads,
                                uint32_t num_queries, uint32_t tokens, double* mass) {
  const uint32_t group = query_heads / kv_heads;
  const double weight = 1.0 / (static_cast<double>(group) * num_queries);
  std::fill(mass, mass + uint64_t{kv_heads} * tokens, 0.0);
  std::vector<double> p(tokens);
  for (uint32_t qh = 0; qh < query_heads; ++qh) {
    double* out = mass + uint64_t{qh / group} * tokens;
    for (uint32_t i = 0; i < num_queries; ++i) {
      const float* x = logits + (uint64_t{qh} * num_queries + i) * tokens;
      double max_logit = -INFINITY;
      for (uint32_t t = 0; t < tokens; ++t) max_logit = std::max(max_logit, double{x[t]});
      double sum = 0.0;
      for (uint32_t t = 0; t < tokens; ++t) {
        p[t] = std::exp(x[t] - max_logit);
        sum += p[t];
      }
      for (uint32_t t = 0; t < tokens; ++t) out[t] += weight * (p[t] / sum);
    }
  }
}

}  // namespace kvc::cpu
