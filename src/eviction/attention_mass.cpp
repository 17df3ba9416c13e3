// attention_mass.cpp: softmax attention of query vectors over one layer's keys, and the attention
// mass each token receives, averaged over the queries and the query heads of each KV head.
#include "eviction/attention_mass.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace kvc {

void load_head_f32(const TensorView& tensor, uint32_t head, uint32_t tokens, uint32_t head_dim,
                   std::vector<float>& out) {
  out.resize(uint64_t{tokens} * head_dim);
  for (uint32_t t = 0; t < tokens; ++t) {
    const unsigned char* row = tensor.row(head, t);
    float* dst = out.data() + uint64_t{t} * head_dim;
    for (uint32_t d = 0; d < head_dim; ++d) dst[d] = load_as_f32(row, tensor.dtype, d);
  }
}

void attention_probs(const float* query, const float* keys, uint32_t tokens, uint32_t head_dim,
                     double* p) {
  const double scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
  double max_logit = -INFINITY;
  for (uint32_t t = 0; t < tokens; ++t) {
    const float* k = keys + uint64_t{t} * head_dim;
    float dot = 0.0f;
    for (uint32_t d = 0; d < head_dim; ++d) dot += query[d] * k[d];
    p[t] = dot * scale;
    max_logit = std::max(max_logit, p[t]);
  }
  double sum = 0.0;
  for (uint32_t t = 0; t < tokens; ++t) {
    p[t] = std::exp(p[t] - max_logit);
    sum += p[t];
  }
  for (uint32_t t = 0; t < tokens; ++t) p[t] /= sum;
}

void check_queries_fit(const QueryView& q, uint32_t kv_heads, uint32_t head_dim) {
  require(q.num_queries > 0, "queries: num_queries is 0");
  require(q.head_dim == head_dim, "queries: head_dim " + std::to_string(q.head_dim) +
                                      " differs from the cache's head_dim " +
                                      std::to_string(head_dim));
  require(q.num_query_heads > 0 && q.num_query_heads % kv_heads == 0,
          "queries: num_query_heads " + std::to_string(q.num_query_heads) +
              " is not a multiple of the cache's num_kv_heads " + std::to_string(kv_heads));
}

std::vector<double> attention_mass(const TensorView& keys, uint32_t kv_heads, uint32_t tokens,
                                   uint32_t head_dim, const QueryLayer& q) {
  const uint32_t group = q.num_query_heads / kv_heads;
  std::vector<double> mass(uint64_t{kv_heads} * tokens, 0.0);
  std::vector<float> head_keys, query(head_dim);
  std::vector<double> p(tokens);
  const double weight = 1.0 / (static_cast<double>(group) * q.num_queries);
  for (uint32_t h = 0; h < kv_heads; ++h) {
    load_head_f32(keys, h, tokens, head_dim, head_keys);
    double* row = mass.data() + uint64_t{h} * tokens;
    for (uint32_t g = 0; g < group; ++g) {
      for (uint32_t i = 0; i < q.num_queries; ++i) {
        q.load(h * group + g, i, query.data());
        attention_probs(query.data(), head_keys.data(), tokens, head_dim, p.data());
        for (uint32_t t = 0; t < tokens; ++t) row[t] += weight * p[t];
      }
    }
  }
  return mass;
}

}  // namespace kvc
