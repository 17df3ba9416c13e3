// attention_logits_test.cpp: the CPU twin of the cuBLAS attention logits gives, after a softmax,
// the probabilities eviction/attention_mass.cpp computes, with grouped query heads.
#include "backend/cpu/attention_logits.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "eviction/attention_mass.h"

namespace kvc {
namespace {

TEST(AttentionLogits, SoftmaxOfTheLogitsIsTheEvictionCodesAttention) {
  std::mt19937 rng(41);
  std::normal_distribution<float> normal;
  const uint32_t kv_heads = 2, query_heads = 6, num_queries = 3, tokens = 57, head_dim = 64;
  std::vector<float> keys(size_t{kv_heads} * tokens * head_dim),
      queries(size_t{query_heads} * num_queries * head_dim);
  for (float& x : keys) x = normal(rng);
  for (float& x : queries) x = 2.0f * normal(rng);
  std::vector<float> logits(size_t{query_heads} * num_queries * tokens);
  cpu::attention_logits(keys.data(), queries.data(), kv_heads, query_heads, num_queries, tokens,
                        head_dim, logits.data());
  std::vector<double> p(tokens);
  for (uint32_t qh = 0; qh < query_heads; ++qh) {
    const uint32_t kv = qh / (query_heads / kv_heads);
    for (uint32_t i = 0; i < num_queries; ++i) {
      attention_probs(queries.data() + (size_t{qh} * num_queries + i) * head_dim,
                      keys.data() + size_t{kv} * tokens * head_dim, tokens, head_dim, p.data());
      const float* row = logits.data() + (size_t{qh} * num_queries + i) * tokens;
      const float top = *std::max_element(row, row + tokens);
      double sum = 0;
      for (uint32_t t = 0; t < tokens; ++t) sum += std::exp(double{row[t]} - top);
      for (uint32_t t = 0; t < tokens; ++t) {
        ASSERT_NEAR(std::exp(double{row[t]} - top) / sum, p[t], 1e-6) << qh << " " << i << " " << t;
      }
    }
  }
}

TEST(AttentionLogits, EachLogitIsTheScaledDotProduct) {
  const std::vector<float> keys = {1, 2, 3, 4, -1, 0, 0, 1};  // 1 head, 2 tokens, dim 4
  const std::vector<float> queries = {1, 1, 1, 1};            // 1 head, 1 query
  std::vector<float> logits(2);
  cpu::attention_logits(keys.data(), queries.data(), 1, 1, 1, 2, 4, logits.data());
  EXPECT_EQ(logits[0], 5.0f);  // 10 / sqrt(4)
  EXPECT_EQ(logits[1], 0.0f);
}

}  // namespace
}  // namespace kvc
