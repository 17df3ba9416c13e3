// attention_fidelity.h: how well a decoded cache reproduces attention under real queries:
// coverage of kept tokens, attention-output error, KL divergence and top-k overlap.
#pragma once

#include <cstdint>

#include "core/cache_view.h"
#include "eviction/queries.h"

namespace kvc {

// Means over layers, query heads and queries.
struct AttentionFidelity {
  double coverage = 0;      // original attention mass on the kept tokens
  double output_error = 0;  // |o - o'| / |o|, o = softmax(q K^T / sqrt(d)) V
  double kl = 0;            // KL(p~ || p') nats; p~ = p restricted to kept tokens, renormalised
  double topk_overlap = 0;  // |top_k(p) & top_k(p')| / k
  uint64_t samples = 0;     // queries measured
};

// original: the cache as given; decoded: the reconstruction at the original length (evicted
// tokens anywhere, they are masked); kept: [layer][kv_head][token] bytes (nullptr = all kept).
// Queries must fit (check_queries_fit).
AttentionFidelity attention_fidelity(const CacheView& original, const CacheView& decoded,
                                     const uint8_t* kept, const QueryView& queries, uint32_t top_k);

}  // namespace kvc
