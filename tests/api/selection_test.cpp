// selection_test.cpp: token selection through the C API: attention mass with queries, key norm,
// recency, sinks, recent window, sliding window, per head, kept positions, mask and scatter.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"

using kvc_api_test::Cache;
using kvc_api_test::contains;
using kvc_api_test::Context;

namespace {

// A float32 cache [layers][heads][tokens][dim] plus queries [layers][q_heads][n][dim] where a
// few tokens per head stand out: their keys align with the queries.
struct Scene {
  Cache cache;
  std::vector<float> queries;
  kvc_query_shape qshape{};
};

Scene make_scene(uint32_t layers, uint32_t heads, uint32_t q_heads, uint32_t tokens,
                 uint32_t head_dim, uint32_t n_queries, uint32_t seed = 7) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Scene s;
  s.cache.shape = kvc_api_test::shape(layers, heads, tokens, head_dim, KVC_DTYPE_F32);
  const size_t n = size_t{layers} * heads * tokens * head_dim;
  std::vector<float> k(n), v(n);
  for (float& x : k) x = normal(rng);
  for (float& x : v) x = normal(rng);
  s.queries.resize(size_t{layers} * q_heads * n_queries * head_dim);
  for (float& x : s.queries) x = 0.3f * normal(rng);
  // Token (l + 3h + 11 i) mod tokens of each head gets a key along the queries' direction.
  for (uint32_t l = 0; l < layers; ++l) {
    for (uint32_t h = 0; h < heads; ++h) {
      for (uint32_t i = 0; i < 5; ++i) {
        const uint32_t t = (l + 3 * h + 11 * i + 20) % tokens;
        float* row = k.data() + ((size_t{l} * heads + h) * tokens + t) * head_dim;
        for (uint32_t d = 0; d < head_dim; ++d) row[d] = 4.0f;
      }
    }
    for (size_t i = 0; i < size_t{q_heads} * n_queries; ++i) {
      float* q = s.queries.data() + (size_t{l} * q_heads * n_queries + i) * head_dim;
      for (uint32_t d = 0; d < head_dim; ++d) q[d] += 1.0f;
    }
  }
  s.cache.keys.resize(n * 4);
  s.cache.values.resize(n * 4);
  std::memcpy(s.cache.keys.data(), k.data(), n * 4);
  std::memcpy(s.cache.values.data(), v.data(), n * 4);
  EXPECT_EQ(kvc_query_shape_default(&s.qshape, sizeof s.qshape), KVC_OK);
  s.qshape.num_query_heads = q_heads;
  s.qshape.num_queries = n_queries;
  s.qshape.head_dim = head_dim;
  s.qshape.dtype = KVC_DTYPE_F32;
  s.qshape.per_layer = 1;
  return s;
}

kvc_compress_params selection(int32_t policy, float threshold = 0.9f, int bits = 16) {
  kvc_compress_params p = kvc_api_test::params(bits, bits, 32);
  p.selection = policy;
  p.attention_threshold = threshold;
  return p;
}

struct Compressed {
  kvc_status status = KVC_OK;
  std::vector<unsigned char> blob;
  kvc_metrics metrics{};
};

Compressed compress_scene(kvc_context* ctx, const kvc_compress_params& p, const Scene& s,
                          bool with_queries = true) {
  Compressed c;
  c.blob.resize(kvc_compress_bound(&p, &s.cache.shape));
  c.metrics.struct_size = sizeof c.metrics;
  size_t size = 0;
  c.status = kvc_compress_with_queries(
      ctx, &p, &s.cache.shape, s.cache.keys.data(), kvc_sized::nbytes(s.cache.keys),
      s.cache.values.data(), kvc_sized::nbytes(s.cache.values), with_queries ? &s.qshape : nullptr,
      with_queries ? s.queries.data() : nullptr,
      kvc_sized::query_extent(with_queries ? &s.qshape : nullptr, &s.cache.shape), c.blob.data(),
      c.blob.size(), &size, &c.metrics);
  c.blob.resize(c.status == KVC_OK ? size : 0);
  return c;
}

// Kept positions [layer][head][count] and per-layer counts.
struct Positions {
  std::vector<uint32_t> counts, positions;
};

Positions positions_of(kvc_context* ctx, const std::vector<unsigned char>& blob, uint32_t layers) {
  Positions p;
  p.counts.resize(layers);
  size_t needed = 0;
  EXPECT_EQ(kvc_decompress_positions(ctx, nullptr, blob.data(), blob.size(), p.counts.data(),
                                     kvc_sized::nbytes(p.counts), nullptr, 0, &needed),
            KVC_OK);
  p.positions.resize(needed);
  size_t written = 0;
  EXPECT_EQ(kvc_decompress_positions(ctx, nullptr, blob.data(), blob.size(), nullptr, 0,
                                     p.positions.data(), p.positions.size(), &written),
            KVC_OK)
      << kvc_context_last_error(ctx);
  EXPECT_EQ(written, needed);
  return p;
}

// The fewest tokens of one head whose mean softmax mass reaches threshold, computed directly.
uint32_t oracle_count(const Scene& s, uint32_t layer, uint32_t head, uint32_t q_heads,
                      uint32_t n_queries, double threshold) {
  const kvc_cache_shape& sh = s.cache.shape;
  const uint32_t T = sh.num_tokens, D = sh.head_dim, group = q_heads / sh.num_kv_heads;
  const float* k = reinterpret_cast<const float*>(s.cache.keys.data()) +
                   (size_t{layer} * sh.num_kv_heads + head) * T * D;
  std::vector<double> mass(T, 0.0), p(T);
  for (uint32_t g = 0; g < group; ++g) {
    for (uint32_t i = 0; i < n_queries; ++i) {
      const float* q =
          s.queries.data() + ((size_t{layer} * q_heads + head * group + g) * n_queries + i) * D;
      double mx = -1e300, sum = 0;
      for (uint32_t t = 0; t < T; ++t) {
        float dot = 0;
        for (uint32_t d = 0; d < D; ++d) dot += q[d] * k[size_t{t} * D + d];
        p[t] = dot / std::sqrt(double(D));
        mx = std::max(mx, p[t]);
      }
      for (double& x : p) sum += (x = std::exp(x - mx));
      for (uint32_t t = 0; t < T; ++t) mass[t] += p[t] / sum / (group * n_queries);
    }
  }
  std::sort(mass.rbegin(), mass.rend());
  double covered = 0;
  uint32_t n = 0;
  while (n < T && covered < threshold) covered += mass[n++];
  return n;
}

}  // namespace

TEST(Selection, SeedScenarioKeepsFewTokensCoveringTheThresholdAndRestoresTheLength) {
  // Seed 000: 100 tokens x 128 dims of keys and values, 5 queries, model gpt-4 (threshold 0.92).
  Context ctx;
  const kvc_adapter* gpt4 = nullptr;
  ASSERT_EQ(kvc_adapter_find("gpt-4", &gpt4), KVC_OK);
  kvc_adapter_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(kvc_adapter_get_info(gpt4, &info), KVC_OK);
  EXPECT_FLOAT_EQ(info.attention_threshold, 0.92f);
  const Scene s = make_scene(1, 1, 1, 100, 128, 5);
  kvc_compress_params p = selection(KVC_SELECT_ATTENTION, info.attention_threshold, 4);
  p.sink_tokens = 0;
  p.recent_always_kept_tokens = 0;
  std::snprintf(p.model_name, sizeof p.model_name, "gpt-4");
  const Compressed c = compress_scene(ctx, p, s);
  ASSERT_EQ(c.status, KVC_OK) << ctx.error();
  EXPECT_EQ(c.metrics.tokens_total, 100u);
  EXPECT_EQ(c.metrics.tokens_kept, oracle_count(s, 0, 0, 1, 5, 0.92));
  EXPECT_LT(c.metrics.tokens_kept, 100u);
  EXPECT_GE(c.metrics.attention_coverage, 0.92);

  // Back to the original length: kept rows decoded, evicted rows zero, the mask says which.
  kvc_decompress_params dp;
  ASSERT_EQ(kvc_decompress_params_default(&dp, sizeof dp), KVC_OK);
  dp.scatter = 1;
  dp.dtype = KVC_DTYPE_F32;
  std::vector<float> k(100 * 128), v(100 * 128);
  size_t written = 0;
  ASSERT_EQ(kvc_decompress(ctx, &dp, c.blob.data(), c.blob.size(), k.data(), v.data(), k.size() * 4,
                           &written),
            KVC_OK)
      << ctx.error();
  EXPECT_EQ(written, k.size() * 4);
  std::vector<uint8_t> mask(100);
  size_t mask_size = 0;
  ASSERT_EQ(kvc_decompress_mask(ctx, &dp, c.blob.data(), c.blob.size(), mask.data(), mask.size(),
                                &mask_size),
            KVC_OK);
  EXPECT_EQ(mask_size, 100u);
  EXPECT_EQ(std::count(mask.begin(), mask.end(), 1), static_cast<long>(c.metrics.tokens_kept));
  for (uint32_t t = 0; t < 100; ++t) {
    const bool zero = std::all_of(k.begin() + t * 128, k.begin() + (t + 1) * 128,
                                  [](float x) { return x == 0.0f; });
    EXPECT_EQ(zero, mask[t] == 0) << "token " << t;
  }

  // The validation report: coverage at least the threshold (taken from the blob).
  kvc_validation val{};
  val.struct_size = sizeof val;
  ASSERT_EQ(kvc_validate(ctx, nullptr, gpt4, &s.cache.shape, s.cache.keys.data(),
                         kvc_sized::nbytes(s.cache.keys), s.cache.values.data(),
                         kvc_sized::nbytes(s.cache.values), &s.qshape, s.queries.data(),
                         kvc_sized::nbytes(s.queries), c.blob.data(), c.blob.size(), &val),
            KVC_OK)
      << ctx.error();
  EXPECT_GE(val.attention_coverage, 0.92);
  EXPECT_NEAR(val.attention_coverage, c.metrics.attention_coverage, 1e-9);
  EXPECT_EQ(val.violations & KVC_VIOLATION_ATTENTION_COVERAGE, 0u);
  EXPECT_GE(val.attention_output_error, 0.0);
  EXPECT_GE(val.topk_overlap, 0.0);
  EXPECT_LE(val.topk_overlap, 1.0);
  EXPECT_EQ(val.tokens_kept, c.metrics.tokens_kept);
  EXPECT_GT(val.information_loss, 0.0);
  EXPECT_GT(std::strlen(val.report), 0u);

  // Statistics add up over repeated calls under the model's name.
  kvc_stats* stats = nullptr;
  ASSERT_EQ(kvc_stats_create(&stats), KVC_OK);
  ASSERT_EQ(kvc_context_set_stats(ctx, stats), KVC_OK);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(compress_scene(ctx, p, s).status, KVC_OK);
  ASSERT_EQ(kvc_decompress(ctx, &dp, c.blob.data(), c.blob.size(), k.data(), v.data(), k.size() * 4,
                           &written),
            KVC_OK);
  kvc_model_stats ms{};
  ms.struct_size = sizeof ms;
  ASSERT_EQ(kvc_stats_get(stats, "gpt-4", &ms), KVC_OK);
  EXPECT_EQ(ms.compress_calls, 3u);
  EXPECT_EQ(ms.decompress_calls, 1u);
  EXPECT_EQ(ms.original_bytes, 3 * c.metrics.original_bytes);
  EXPECT_EQ(ms.compressed_bytes, 3 * c.metrics.compressed_bytes);
  EXPECT_EQ(ms.tokens_kept, 3 * c.metrics.tokens_kept);
  EXPECT_EQ(ms.coverage_samples, 3u);
  EXPECT_NEAR(ms.mean_attention_coverage, c.metrics.attention_coverage, 1e-12);
  EXPECT_GT(ms.mean_compress_ms, 0.0);
  ASSERT_EQ(kvc_context_set_stats(ctx, nullptr), KVC_OK);
  kvc_stats_free(stats);
}

TEST(Selection, AttentionKeepsTheFewestTokensReachingTheThresholdPerLayer) {
  Context ctx;
  const Scene s = make_scene(3, 2, 4, 96, 16, 6);  // GQA: 4 query heads on 2 KV heads
  for (const float threshold : {0.5f, 0.8f, 0.95f, 1.0f}) {
    kvc_compress_params p = selection(KVC_SELECT_ATTENTION, threshold);
    p.sink_tokens = 0;
    p.recent_always_kept_tokens = 0;
    const Compressed c = compress_scene(ctx, p, s);
    ASSERT_EQ(c.status, KVC_OK) << ctx.error();
    const Positions pos = positions_of(ctx, c.blob, 3);
    uint64_t sum = 0;
    for (uint32_t l = 0; l < 3; ++l) {
      // Shared selection averages the heads' mass: the oracle of the mean over heads is bounded
      // by the per-head oracles; check the count reaches the threshold with the fewest tokens.
      const uint32_t count = pos.counts[l];
      EXPECT_GE(count, 1u);
      EXPECT_LE(count, 96u);
      sum += count;
    }
    EXPECT_EQ(sum, c.metrics.tokens_kept);
    EXPECT_GE(c.metrics.attention_coverage, threshold - 1e-9) << threshold;
  }
}

TEST(Selection, PerHeadCountsMatchABruteForceOracle) {
  Context ctx;
  const Scene s = make_scene(2, 2, 2, 80, 8, 3);
  kvc_compress_params p = selection(KVC_SELECT_ATTENTION, 0.9f);
  p.per_head = 1;
  p.sink_tokens = 0;
  p.recent_always_kept_tokens = 0;
  const Compressed c = compress_scene(ctx, p, s);
  ASSERT_EQ(c.status, KVC_OK) << ctx.error();
  const Positions pos = positions_of(ctx, c.blob, 2);
  size_t offset = 0;
  bool heads_differ = false;
  for (uint32_t l = 0; l < 2; ++l) {
    const uint32_t expected =
        std::max(oracle_count(s, l, 0, 2, 3, 0.9), oracle_count(s, l, 1, 2, 3, 0.9));
    EXPECT_EQ(pos.counts[l], expected) << "layer " << l;
    const uint32_t n = pos.counts[l];
    heads_differ = heads_differ ||
                   !std::equal(pos.positions.begin() + offset, pos.positions.begin() + offset + n,
                               pos.positions.begin() + offset + n);
    for (uint32_t h = 0; h < 2; ++h) {
      EXPECT_TRUE(std::is_sorted(pos.positions.begin() + offset + h * n,
                                 pos.positions.begin() + offset + (h + 1) * n));
    }
    offset += 2 * size_t{n};
  }
  EXPECT_TRUE(heads_differ);
}

TEST(Selection, SinksRecentWindowAndMinMaxBoundTheSelection) {
  Context ctx;
  const Scene s = make_scene(1, 1, 1, 64, 8, 2);
  kvc_compress_params p = selection(KVC_SELECT_ATTENTION, 0.3f);
  p.sink_tokens = 4;
  p.recent_always_kept_tokens = 6;
  Compressed c = compress_scene(ctx, p, s);
  ASSERT_EQ(c.status, KVC_OK) << ctx.error();
  Positions pos = positions_of(ctx, c.blob, 1);
  for (uint32_t t : {0u, 1u, 2u, 3u, 58u, 59u, 60u, 61u, 62u, 63u}) {
    EXPECT_TRUE(std::binary_search(pos.positions.begin(), pos.positions.end(), t)) << t;
  }
  p.min_tokens = 30;
  c = compress_scene(ctx, p, s);
  EXPECT_EQ(c.metrics.tokens_kept, 30u);
  p.min_tokens = 0;
  p.max_tokens = 5;  // fewer than the forced tokens: the newest win
  c = compress_scene(ctx, p, s);
  pos = positions_of(ctx, c.blob, 1);
  EXPECT_EQ(pos.positions, (std::vector<uint32_t>{59, 60, 61, 62, 63}));
}

TEST(Selection, SlidingWindowDropsEverythingOlderWhateverThePolicy) {
  Context ctx;
  const Scene s = make_scene(2, 1, 1, 50, 8, 2);
  kvc_compress_params p = selection(KVC_SELECT_NONE);
  p.sliding_window = 20;
  const Compressed c = compress_scene(ctx, p, s, false);
  ASSERT_EQ(c.status, KVC_OK) << ctx.error();
  EXPECT_EQ(c.metrics.tokens_kept, 40u);
  const Positions pos = positions_of(ctx, c.blob, 2);
  std::vector<uint32_t> window(20);
  std::iota(window.begin(), window.end(), 30u);
  EXPECT_EQ(std::vector<uint32_t>(pos.positions.begin(), pos.positions.begin() + 20), window);
  // Lossless: the kept rows come back bit for bit, packed.
  const kvc_api_test::Decoded d = kvc_api_test::decompress(ctx, c.blob);
  ASSERT_EQ(d.keys.size(), 2u * 20 * 8 * 4);
  for (uint32_t l = 0; l < 2; ++l) {
    EXPECT_EQ(
        std::memcmp(d.keys.data() + l * 20 * 32, s.cache.keys.data() + (l * 50 + 30) * 32, 20 * 32),
        0);
    EXPECT_EQ(std::memcmp(d.values.data() + l * 20 * 32, s.cache.values.data() + (l * 50 + 30) * 32,
                          20 * 32),
              0);
  }
}

TEST(Selection, KeyNormAndRecencyKeepTheirShareWithoutQueries) {
  Context ctx;
  const Scene s = make_scene(1, 1, 1, 40, 8, 1);
  kvc_compress_params p = selection(KVC_SELECT_RECENCY);
  p.keep_ratio = 0.25f;
  p.sink_tokens = 2;
  p.recent_always_kept_tokens = 0;
  Compressed c = compress_scene(ctx, p, s, false);
  ASSERT_EQ(c.status, KVC_OK) << ctx.error();
  EXPECT_EQ(c.metrics.attention_coverage, -1.0);
  Positions pos = positions_of(ctx, c.blob, 1);
  EXPECT_EQ(pos.positions, (std::vector<uint32_t>{0, 1, 32, 33, 34, 35, 36, 37, 38, 39}));

  p.selection = KVC_SELECT_KEY_NORM;
  p.sink_tokens = 0;
  c = compress_scene(ctx, p, s, false);
  ASSERT_EQ(c.status, KVC_OK) << ctx.error();
  pos = positions_of(ctx, c.blob, 1);
  ASSERT_EQ(pos.positions.size(), 10u);
  // The five aligned keys (norm 4 * sqrt(8)) are the largest.
  for (uint32_t i = 0; i < 5; ++i) {
    const uint32_t t = (11 * i + 20) % 40;
    EXPECT_TRUE(std::binary_search(pos.positions.begin(), pos.positions.end(), t)) << t;
  }
}

TEST(Selection, BadInputNamesTheField) {
  Context ctx;
  Scene s = make_scene(1, 2, 4, 32, 8, 2);
  struct Case {
    const char* field;
    void (*edit)(kvc_compress_params&);
  };
  const Case cases[] = {
      {"attention_threshold", [](kvc_compress_params& p) { p.attention_threshold = 0.0f; }},
      {"attention_threshold", [](kvc_compress_params& p) { p.attention_threshold = 1.5f; }},
      {"min_tokens", [](kvc_compress_params& p) { p.min_tokens = 9, p.max_tokens = 3; }},
      {"keep_ratio", [](kvc_compress_params& p) { p.keep_ratio = 0.0f; }},
      {"selection", [](kvc_compress_params& p) { p.selection = 9; }},
      {"per_head", [](kvc_compress_params& p) { p.per_head = 2; }},
  };
  for (const Case& k : cases) {
    kvc_compress_params p = selection(KVC_SELECT_ATTENTION);
    k.edit(p);
    const Compressed c = compress_scene(ctx, p, s);
    EXPECT_EQ(c.status, KVC_ERR_INVALID_ARGUMENT) << k.field;
    EXPECT_TRUE(contains(ctx.error(), k.field));
  }
  kvc_compress_params p = selection(KVC_SELECT_ATTENTION);
  EXPECT_EQ(compress_scene(ctx, p, s, false).status, KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "needs queries"));
  s.qshape.head_dim = 16;
  EXPECT_EQ(compress_scene(ctx, p, s).status, KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "head_dim"));
  s.qshape.head_dim = 8;
  s.qshape.num_query_heads = 3;  // not a multiple of 2 KV heads
  EXPECT_EQ(compress_scene(ctx, p, s).status, KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "num_query_heads"));
  const kvc_adapter* none = nullptr;
  EXPECT_EQ(kvc_adapter_find("no-such-model", &none), KVC_ERR_INVALID_ARGUMENT);
}

TEST(Selection, BuffersAndInspectReportTheKeptTokens) {
  Context ctx;
  const Scene s = make_scene(3, 2, 2, 64, 8, 2);
  kvc_compress_params p = selection(KVC_SELECT_ATTENTION, 0.6f, 4);
  const Compressed c = compress_scene(ctx, p, s);
  ASSERT_EQ(c.status, KVC_OK) << ctx.error();
  kvc_blob_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(kvc_inspect(ctx, c.blob.data(), c.blob.size(), &info), KVC_OK);
  EXPECT_EQ(info.format_minor, 1u);
  EXPECT_EQ(info.selection, KVC_SELECT_ATTENTION);
  EXPECT_EQ(info.tokens_kept, c.metrics.tokens_kept);
  const Positions pos = positions_of(ctx, c.blob, 3);
  EXPECT_EQ(info.max_layer_tokens, *std::max_element(pos.counts.begin(), pos.counts.end()));
  // Packed kept tokens: sum over layers of heads * count * head_dim elements.
  size_t needed = 0;
  EXPECT_EQ(
      kvc_decompress(ctx, nullptr, c.blob.data(), c.blob.size(), nullptr, nullptr, 0, &needed),
      KVC_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(needed, 4u * 2 * 8 * info.tokens_kept);
  std::vector<uint32_t> small(pos.positions.size() - 1);
  size_t count = 0;
  EXPECT_EQ(kvc_decompress_positions(ctx, nullptr, c.blob.data(), c.blob.size(), nullptr, 0,
                                     small.data(), small.size(), &count),
            KVC_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(count, pos.positions.size());
  // One layer alone decodes to that layer's kept tokens.
  const kvc_api_test::Decoded one = kvc_api_test::decompress(ctx, c.blob, KVC_DTYPE_F32, 1, 1);
  EXPECT_EQ(one.keys.size(), 4u * 2 * 8 * pos.counts[1]);
}
