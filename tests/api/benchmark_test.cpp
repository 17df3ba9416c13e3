// benchmark_test.cpp: kvc_benchmark: its figures, its progress reports and its argument checks.
#include <kvc/kvc_tools.h>

#include <utility>

#include "../sized_buffers.h"
#include "api/api_helpers.h"

namespace {

using kvc_api_test::contains;
using kvc_api_test::Context;

struct ProgressLog {
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  static void on_progress(void* user_data, uint64_t done, uint64_t total) {
    static_cast<ProgressLog*>(user_data)->calls.emplace_back(done, total);
  }
};

kvc_benchmark_result bench(kvc_context* ctx, const kvc_compress_params& p,
                           const kvc_api_test::Cache& c, uint32_t iterations) {
  kvc_benchmark_result r{};
  r.struct_size = sizeof r;
  EXPECT_EQ(
      kvc_benchmark(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                    kvc_sized::nbytes(c.values), nullptr, nullptr, 0, iterations, &r),
      KVC_OK)
      << kvc_context_last_error(ctx);
  return r;
}

TEST(Benchmark, ReportsTimesSizesAndQualityOfTheCache) {
  Context ctx;
  const kvc_api_test::Cache cache = kvc_api_test::gaussian_cache(2, 2, 128, 64);
  const kvc_compress_params p = kvc_api_test::params(8, 8);
  const kvc_benchmark_result r = bench(ctx, p, cache, 7);
  EXPECT_EQ(r.iterations, 7u);
  EXPECT_GT(r.compress_ms_median, 0.0);
  EXPECT_LE(r.compress_ms_median, r.compress_ms_p99);
  EXPECT_GT(r.decompress_ms_median, 0.0);
  EXPECT_LE(r.decompress_ms_median, r.decompress_ms_p99);
  EXPECT_EQ(r.original_bytes, cache.keys.size() + cache.values.size());
  // The blob is the one kvc_compress makes of the same input.
  kvc_metrics m{};
  m.struct_size = sizeof m;
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, cache, &m);
  EXPECT_EQ(r.compressed_bytes, blob.size());
  EXPECT_DOUBLE_EQ(r.compression_ratio, m.compression_ratio);
  EXPECT_DOUBLE_EQ(r.bandwidth_savings_percent, m.bandwidth_savings_percent);
  EXPECT_DOUBLE_EQ(r.bits_per_element, m.bits_per_element);
  EXPECT_NEAR(r.compress_gb_per_s,
              static_cast<double>(r.original_bytes) / (r.compress_ms_median * 1e6), 1e-9);
  EXPECT_EQ(r.tokens_total, 2u * 128);
  EXPECT_EQ(r.tokens_kept, 2u * 128);
  EXPECT_EQ(r.quality_passed, 1);  // 8-bit Gaussian data is far above the default thresholds
  EXPECT_EQ(r.quality_level, KVC_QUALITY_EXCELLENT);
}

TEST(Benchmark, ProgressCountsIterationsOnlyAndTheCallbackIsKept) {
  Context ctx;
  ProgressLog log;
  ASSERT_EQ(kvc_context_set_progress(ctx, &ProgressLog::on_progress, &log), KVC_OK);
  const kvc_api_test::Cache cache = kvc_api_test::gaussian_cache(3, 1, 32, 32);
  bench(ctx, kvc_api_test::params(), cache, 4);
  const std::vector<std::pair<uint64_t, uint64_t>> expected = {{1, 4}, {2, 4}, {3, 4}, {4, 4}};
  EXPECT_EQ(log.calls, expected);
  // Afterwards the context reports the chunks of its calls again.
  log.calls.clear();
  kvc_api_test::compress(ctx, kvc_api_test::params(), cache);
  ASSERT_FALSE(log.calls.empty());
  EXPECT_EQ(log.calls.back(), std::make_pair(uint64_t{6}, uint64_t{6}));
}

TEST(Benchmark, AttachedStatsDoNotSeeTheBenchmarkCalls) {
  Context ctx;
  kvc_stats* stats = nullptr;
  ASSERT_EQ(kvc_stats_create(&stats), KVC_OK);
  ASSERT_EQ(kvc_context_set_stats(ctx, stats), KVC_OK);
  const kvc_api_test::Cache cache = kvc_api_test::gaussian_cache(1, 1, 32, 32);
  bench(ctx, kvc_api_test::params(), cache, 3);
  EXPECT_EQ(kvc_stats_model_count(stats), 0u);
  kvc_api_test::compress(ctx, kvc_api_test::params(), cache);  // still attached afterwards
  EXPECT_EQ(kvc_stats_model_count(stats), 1u);
  ASSERT_EQ(kvc_context_set_stats(ctx, nullptr), KVC_OK);
  kvc_stats_free(stats);
}

TEST(Benchmark, InvalidArgumentsAreRejectedWithTheFieldNamed) {
  Context ctx;
  const kvc_api_test::Cache cache = kvc_api_test::gaussian_cache(1, 1, 32, 32);
  kvc_benchmark_result r{};
  r.struct_size = sizeof r;
  const void* k = cache.keys.data();
  const void* v = cache.values.data();
  EXPECT_EQ(kvc_benchmark(ctx, nullptr, &cache.shape, k, kvc_sized::extent(&cache.shape), v,
                          kvc_sized::extent(&cache.shape), nullptr, nullptr, 0, 0, &r),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "iterations 0"));
  kvc_query_shape q{};
  kvc_query_shape_default(&q, sizeof q);
  EXPECT_EQ(kvc_benchmark(ctx, nullptr, &cache.shape, k, kvc_sized::extent(&cache.shape), v,
                          kvc_sized::extent(&cache.shape), &q, nullptr, 0, 1, &r),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "query_shape given without queries"));
  kvc_compress_params p = kvc_api_test::params();
  p.value_bits = 6;
  EXPECT_EQ(kvc_benchmark(ctx, &p, &cache.shape, k, kvc_sized::extent(&cache.shape), v,
                          kvc_sized::extent(&cache.shape), nullptr, nullptr, 0, 1, &r),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "value_bits 6"));
  EXPECT_EQ(kvc_benchmark(ctx, nullptr, nullptr, k, kvc_sized::extent(nullptr), v,
                          kvc_sized::extent(nullptr), nullptr, nullptr, 0, 1, &r),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "shape is NULL"));
  EXPECT_EQ(kvc_benchmark(ctx, nullptr, &cache.shape, k, kvc_sized::extent(&cache.shape), v,
                          kvc_sized::extent(&cache.shape), nullptr, nullptr, 0, 1, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "out_result is NULL"));
}

}  // namespace
