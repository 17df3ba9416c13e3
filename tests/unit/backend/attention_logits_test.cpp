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

TEST(AttentionLogits, MassFromTheLogitsIsTheEvictionCodesAttentionMass) {
  std::mt19937 rng(43);
  std::normal_distribution<float> normal;
  const uint32_t kv_heads = 3, query_heads = 6, num_queries = 4, tokens = 70, head_dim = 32;
  std::vector<float> keys(size_t{kv_heads} * tokens * head_dim),
      queries(size_t{query_heads} * num_queries * head_dim);
  for (float& x : keys) x = normal(rng);
  for (float& x : queries) x = 3.0f * normal(rng);
  std::vector<float> logits(size_t{query_heads} * num_queries * tokens);
  cpu::attention_logits(keys.data(), queries.data(), kv_heads, query_heads, num_queries, tokens,
                        head_dim, logits.data());
  std::vector<double> mass(size_t{kv_heads} * tokens, -1.0);
  cpu::attention_mass_from_logits(logits.data(), kv_heads, query_heads, num_queries, tokens,
                                  mass.data());
  // The eviction code's own mass, from float32 keys and queries in the same layout.
  const TensorView view{keys.data(), uint64_t{tokens} * head_dim, head_dim, DType::F32};
  QueryLayer q;
  q.data = queries.data();
  q.dtype = DType::F32;
  q.num_query_heads = query_heads;
  q.num_queries = num_queries;
  q.head_dim = head_dim;
  const std::vector<double> expected =
      attention_mass(cpu_backend(), view, kv_heads, tokens, head_dim, q);
  for (uint32_t h = 0; h < kv_heads; ++h) {
    double total = 0;
    for (uint32_t t = 0; t < tokens; ++t) {
      ASSERT_NEAR(mass[size_t{h} * tokens + t], expected[size_t{h} * tokens + t], 1e-6) << h << t;
      total += mass[size_t{h} * tokens + t];
    }
    EXPECT_NEAR(total, 1.0, 1e-9);  // a mean of distributions
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
