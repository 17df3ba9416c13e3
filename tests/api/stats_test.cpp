// stats_test.cpp: kvc_stats: records per model, attachment to contexts, and thread safety.
#include <kvc/kvc_tools.h>

#include <cstdio>
#include <thread>

#include "api/api_helpers.h"

namespace {

using kvc_api_test::contains;
using kvc_api_test::Context;

// A kvc_stats for one test.
class Stats {
 public:
  Stats() { EXPECT_EQ(kvc_stats_create(&stats_), KVC_OK); }
  ~Stats() { kvc_stats_free(stats_); }
  Stats(const Stats&) = delete;
  Stats& operator=(const Stats&) = delete;
  operator kvc_stats*() const { return stats_; }

 private:
  kvc_stats* stats_ = nullptr;
};

kvc_metrics metrics(uint64_t original, uint64_t compressed, double ms, double coverage) {
  kvc_metrics m{};
  m.struct_size = sizeof m;
  m.original_bytes = original;
  m.compressed_bytes = compressed;
  m.compression_ratio = static_cast<double>(original) / static_cast<double>(compressed);
  m.bandwidth_savings_percent =
      100.0 * (1.0 - static_cast<double>(compressed) / static_cast<double>(original));
  m.tokens_total = 100;
  m.tokens_kept = 40;
  m.compress_ms = ms;
  m.attention_coverage = coverage;
  return m;
}

kvc_model_stats get(const kvc_stats* stats, const char* name) {
  kvc_model_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(kvc_stats_get(stats, name, &s), KVC_OK) << name;
  return s;
}

TEST(Stats, RecordsAddUpPerModelAndMeansFollow) {
  Stats stats;
  EXPECT_EQ(kvc_stats_model_count(stats), 0u);
  kvc_metrics a = metrics(1000, 250, 2.0, 0.9);
  kvc_metrics b = metrics(1000, 500, 4.0, -1);
  kvc_metrics c = metrics(3000, 1000, 1.0, 0.8);
  ASSERT_EQ(kvc_stats_record(stats, "gpt-4", &a), KVC_OK);
  ASSERT_EQ(kvc_stats_record(stats, "llama-3-8b", &c), KVC_OK);
  ASSERT_EQ(kvc_stats_record(stats, "gpt-4", &b), KVC_OK);
  ASSERT_EQ(kvc_stats_record(stats, nullptr, &c), KVC_OK);
  EXPECT_EQ(kvc_stats_model_count(stats), 3u);

  const kvc_model_stats g = get(stats, "gpt-4");
  EXPECT_STREQ(g.model_name, "gpt-4");
  EXPECT_EQ(g.compress_calls, 2u);
  EXPECT_EQ(g.decompress_calls, 0u);
  EXPECT_EQ(g.original_bytes, 2000u);
  EXPECT_EQ(g.compressed_bytes, 750u);
  EXPECT_EQ(g.tokens_total, 200u);
  EXPECT_EQ(g.tokens_kept, 80u);
  EXPECT_DOUBLE_EQ(g.total_compress_ms, 6.0);
  EXPECT_DOUBLE_EQ(g.mean_compress_ms, 3.0);
  EXPECT_DOUBLE_EQ(g.compression_ratio, 2000.0 / 750.0);
  EXPECT_DOUBLE_EQ(g.mean_savings_percent, (75.0 + 50.0) / 2);
  EXPECT_EQ(g.coverage_samples, 1u);  // -1 is "not measured", not a sample
  EXPECT_DOUBLE_EQ(g.mean_attention_coverage, 0.9);

  // Models in first-seen order; NULL and "" are the same unnamed model.
  kvc_model_stats s{};
  s.struct_size = sizeof s;
  ASSERT_EQ(kvc_stats_get_index(stats, 0, &s), KVC_OK);
  EXPECT_STREQ(s.model_name, "gpt-4");
  ASSERT_EQ(kvc_stats_get_index(stats, 1, &s), KVC_OK);
  EXPECT_STREQ(s.model_name, "llama-3-8b");
  ASSERT_EQ(kvc_stats_get_index(stats, 2, &s), KVC_OK);
  EXPECT_STREQ(s.model_name, "");
  EXPECT_EQ(get(stats, "").compress_calls, 1u);
  EXPECT_EQ(kvc_stats_get_index(stats, 3, &s), KVC_ERR_INVALID_ARGUMENT);
}

TEST(Stats, MeanCoverageIsMinusOneWithoutSamples) {
  Stats stats;
  kvc_metrics m = metrics(100, 50, 1.0, -1);
  ASSERT_EQ(kvc_stats_record(stats, "m", &m), KVC_OK);
  const kvc_model_stats s = get(stats, "m");
  EXPECT_EQ(s.coverage_samples, 0u);
  EXPECT_EQ(s.mean_attention_coverage, -1.0);
  EXPECT_EQ(s.mean_decompress_ms, 0.0);
}

TEST(Stats, ResetForgetsOneModelOrAll) {
  Stats stats;
  kvc_metrics m = metrics(100, 50, 1.0, 0.5);
  ASSERT_EQ(kvc_stats_record(stats, "a", &m), KVC_OK);
  ASSERT_EQ(kvc_stats_record(stats, "b", &m), KVC_OK);
  ASSERT_EQ(kvc_stats_reset(stats, "a"), KVC_OK);
  EXPECT_EQ(kvc_stats_model_count(stats), 1u);
  kvc_model_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(kvc_stats_get(stats, "a", &s), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(get(stats, "b").compress_calls, 1u);
  ASSERT_EQ(kvc_stats_record(stats, "a", &m), KVC_OK);  // back, after b
  ASSERT_EQ(kvc_stats_get_index(stats, 1, &s), KVC_OK);
  EXPECT_STREQ(s.model_name, "a");
  EXPECT_EQ(s.compress_calls, 1u);
  EXPECT_EQ(kvc_stats_reset(stats, "never-seen"), KVC_OK);
  ASSERT_EQ(kvc_stats_reset(stats, nullptr), KVC_OK);
  EXPECT_EQ(kvc_stats_model_count(stats), 0u);
}

TEST(Stats, NamesAreCutTo63Bytes) {
  Stats stats;
  const std::string long_name(100, 'x');
  kvc_metrics m = metrics(100, 50, 1.0, -1);
  ASSERT_EQ(kvc_stats_record(stats, long_name.c_str(), &m), KVC_OK);
  const kvc_model_stats s = get(stats, long_name.c_str());
  EXPECT_EQ(std::string(s.model_name), long_name.substr(0, 63));
}

TEST(Stats, InvalidArgumentsAreRejected) {
  Stats stats;
  kvc_metrics m = metrics(100, 50, 1.0, -1);
  kvc_model_stats s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(kvc_stats_create(nullptr), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_stats_record(nullptr, "a", &m), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_stats_record(stats, "a", nullptr), KVC_ERR_INVALID_ARGUMENT);
  m.struct_size = 4;
  EXPECT_EQ(kvc_stats_record(stats, "a", &m), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_stats_get(stats, "a", &s), KVC_ERR_INVALID_ARGUMENT);  // no record
  EXPECT_EQ(kvc_stats_get(stats, "a", nullptr), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_stats_model_count(nullptr), 0u);
  EXPECT_EQ(kvc_stats_reset(nullptr, nullptr), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_context_set_stats(nullptr, stats), KVC_ERR_INVALID_ARGUMENT);
  kvc_stats_free(nullptr);
}

TEST(Stats, AttachedContextsRecordTheirCompressAndDecompressCalls) {
  Stats stats;
  Context ctx;
  ASSERT_EQ(kvc_context_set_stats(ctx, stats), KVC_OK);
  const kvc_api_test::Cache cache = kvc_api_test::gaussian_cache(2, 2, 64, 32);
  kvc_compress_params p = kvc_api_test::params();
  std::snprintf(p.model_name, sizeof p.model_name, "tiny");
  kvc_metrics m{};
  m.struct_size = sizeof m;
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, cache, &m);
  kvc_api_test::decompress(ctx, blob);
  const kvc_model_stats s = get(stats, "tiny");
  EXPECT_EQ(s.compress_calls, 1u);
  EXPECT_EQ(s.decompress_calls, 1u);  // the size query with no buffer is not a call that decoded
  EXPECT_EQ(s.original_bytes, m.original_bytes);
  EXPECT_EQ(s.compressed_bytes, blob.size());
  EXPECT_DOUBLE_EQ(s.total_compress_ms, m.compress_ms);
  EXPECT_GT(s.total_decompress_ms, 0.0);
  // Detached: no more records.
  ASSERT_EQ(kvc_context_set_stats(ctx, nullptr), KVC_OK);
  kvc_api_test::compress(ctx, p, cache);
  EXPECT_EQ(get(stats, "tiny").compress_calls, 1u);
}

TEST(Stats, EightThreadsWithEightContextsAddUpExactly) {
  Stats stats;
  constexpr int kThreads = 8;
  constexpr int kCalls = 25;
  const kvc_api_test::Cache cache = kvc_api_test::gaussian_cache(1, 2, 32, 32);
  std::vector<std::thread> threads;
  std::vector<uint64_t> blob_bytes(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Context ctx;
      ASSERT_EQ(kvc_context_set_stats(ctx, stats), KVC_OK);
      kvc_compress_params p = kvc_api_test::params();
      std::snprintf(p.model_name, sizeof p.model_name, "model-%d", t % 2);
      for (int i = 0; i < kCalls; ++i) {
        const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, cache);
        blob_bytes[t] += blob.size();
        kvc_api_test::decompress(ctx, blob);
        kvc_metrics m = metrics(10, 5, 0.5, 0.75);
        ASSERT_EQ(kvc_stats_record(stats, "shared", &m), KVC_OK);
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(kvc_stats_model_count(stats), 3u);
  uint64_t compressed = 0;
  for (int t = 0; t < kThreads; ++t) compressed += blob_bytes[t];
  const kvc_model_stats m0 = get(stats, "model-0");
  const kvc_model_stats m1 = get(stats, "model-1");
  EXPECT_EQ(m0.compress_calls, uint64_t{kThreads / 2 * kCalls});
  EXPECT_EQ(m1.compress_calls, uint64_t{kThreads / 2 * kCalls});
  EXPECT_EQ(m0.decompress_calls + m1.decompress_calls, uint64_t{kThreads * kCalls});
  EXPECT_EQ(m0.compressed_bytes + m1.compressed_bytes, compressed);
  const uint64_t original = cache.keys.size() + cache.values.size();
  EXPECT_EQ(m0.original_bytes + m1.original_bytes, uint64_t{kThreads * kCalls} * original);
  const kvc_model_stats shared = get(stats, "shared");
  EXPECT_EQ(shared.compress_calls, uint64_t{kThreads * kCalls});
  EXPECT_EQ(shared.coverage_samples, uint64_t{kThreads * kCalls});
  EXPECT_DOUBLE_EQ(shared.mean_attention_coverage, 0.75);
}

}  // namespace
