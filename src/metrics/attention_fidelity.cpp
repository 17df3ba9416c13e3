// attention_fidelity.cpp: how well a decoded cache reproduces attention under real queries:
// coverage of kept tokens, attention-output error, KL divergence and top-k overlap.
#include "metrics/attention_fidelity.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "eviction/attention_mass.h"

namespace kvc {
namespace {

// Indices of the k largest entries of p (ties: lower index first).
std::vector<uint32_t> top_indices(const std::vector<double>& p, uint32_t k) {
  std::vector<uint32_t> idx(p.size());
  std::iota(idx.begin(), idx.end(), 0u);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](uint32_t a, uint32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

// Attention output sum_t p[t] * V[t] over one head's values ([tokens][head_dim] floats).
void attend(const std::vector<double>& p, const std::vector<float>& values, uint32_t head_dim,
            std::vector<double>& out) {
  std::fill(out.begin(), out.end(), 0.0);
  for (size_t t = 0; t < p.size(); ++t) {
    if (p[t] == 0.0) continue;
    const float* v = values.data() + t * head_dim;
    for (uint32_t d = 0; d < head_dim; ++d) out[d] += p[t] * v[d];
  }
}

}  // namespace

AttentionFidelity attention_fidelity(const CacheView& original, const CacheView& decoded,
                                     const uint8_t* kept, const QueryView& queries,
                                     uint32_t top_k) {
  const CacheDims& d = original.dims;
  const uint32_t T = d.num_tokens;
  const uint32_t group = queries.num_query_heads / d.num_kv_heads;
  const uint32_t k = std::min(std::max(top_k, 1u), T);
  AttentionFidelity f;
  std::vector<float> keys, values, keys2, values2, query(d.head_dim);
  std::vector<double> p(T), p2(T), kept_keys_p;
  std::vector<double> o(d.head_dim), o2(d.head_dim);
  std::vector<uint32_t> kept_rows;
  std::vector<float> kept_keys;
  for (uint32_t l = 0; l < d.num_layers; ++l) {
    const QueryLayer q = queries.layer(l);
    for (uint32_t h = 0; h < d.num_kv_heads; ++h) {
      load_head_f32(original.key(l), h, T, d.head_dim, keys);
      load_head_f32(original.value(l), h, T, d.head_dim, values);
      load_head_f32(decoded.key(l), h, T, d.head_dim, keys2);
      load_head_f32(decoded.value(l), h, T, d.head_dim, values2);
      const uint8_t* mask =
          kept != nullptr ? kept + (uint64_t{l} * d.num_kv_heads + h) * T : nullptr;
      kept_rows.clear();
      for (uint32_t t = 0; t < T; ++t) {
        if (mask == nullptr || mask[t] != 0) kept_rows.push_back(t);
      }
      const auto n = static_cast<uint32_t>(kept_rows.size());
      kept_keys.resize(uint64_t{n} * d.head_dim);
      for (uint32_t i = 0; i < n; ++i) {
        std::copy_n(keys2.data() + uint64_t{kept_rows[i]} * d.head_dim, d.head_dim,
                    kept_keys.data() + uint64_t{i} * d.head_dim);
      }
      kept_keys_p.resize(n);
      for (uint32_t g = 0; g < group; ++g) {
        for (uint32_t i = 0; i < q.num_queries; ++i) {
          q.load(h * group + g, i, query.data());
          attention_probs(query.data(), keys.data(), T, d.head_dim, p.data());
          attention_probs(query.data(), kept_keys.data(), n, d.head_dim, kept_keys_p.data());
          std::fill(p2.begin(), p2.end(), 0.0);
          double coverage = 0.0;
          for (uint32_t j = 0; j < n; ++j) {
            p2[kept_rows[j]] = kept_keys_p[j];
            coverage += p[kept_rows[j]];
          }
          double kl = 0.0;
          for (uint32_t j = 0; j < n; ++j) {
            const double a = coverage > 0 ? p[kept_rows[j]] / coverage : 0.0;
            if (a > 0) kl += a * std::log(a / std::max(kept_keys_p[j], 1e-300));
          }
          attend(p, values, d.head_dim, o);
          attend(p2, values2, d.head_dim, o2);
          double diff = 0.0, norm = 0.0;
          for (uint32_t x = 0; x < d.head_dim; ++x) {
            diff += (o[x] - o2[x]) * (o[x] - o2[x]);
            norm += o[x] * o[x];
          }
          const std::vector<uint32_t> top = top_indices(p, k), top2 = top_indices(p2, k);
          std::vector<uint32_t> common;
          std::set_intersection(top.begin(), top.end(), top2.begin(), top2.end(),
                                std::back_inserter(common));
          f.coverage += coverage;
          f.output_error += norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
          f.kl += std::max(kl, 0.0);
          f.topk_overlap += static_cast<double>(common.size()) / k;
          ++f.samples;
        }
      }
    }
  }
  if (f.samples > 0) {
    const auto s = static_cast<double>(f.samples);
    f.coverage /= s;
    f.output_error /= s;
    f.kl /= s;
    f.topk_overlap /= s;
  }
  return f;
}

}  // namespace kvc
