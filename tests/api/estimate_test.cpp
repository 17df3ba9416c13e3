// estimate_test.cpp: kvc_estimate against what kvc_compress really produces, on the real caches.
#include <kvc/kvc_tools.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "../sized_buffers.h"
#include "api/api_helpers.h"

namespace {

using kvc_api_test::contains;
using kvc_api_test::Context;

struct LoadedCache {
  kvc_cache* cache = nullptr;
  ~LoadedCache() { kvc_cache_free(cache); }
};

kvc_estimate_result estimate(kvc_context* ctx, const kvc_compress_params& p,
                             const kvc_cache_shape& s) {
  kvc_estimate_result e{};
  e.struct_size = sizeof e;
  EXPECT_EQ(kvc_estimate(ctx, &p, &s, &e), KVC_OK) << kvc_context_last_error(ctx);
  return e;
}

kvc_metrics compress(kvc_context* ctx, const kvc_compress_params& p, const kvc_cache_shape& s,
                     const void* keys, const void* values) {
  std::vector<unsigned char> blob(kvc_compress_bound(&p, &s));
  size_t size = 0;
  kvc_metrics m{};
  m.struct_size = sizeof m;
  EXPECT_EQ(kvc_compress(ctx, &p, &s, keys, kvc_sized::extent(&s), values, kvc_sized::extent(&s),
                         blob.data(), blob.size(), &size, &m),
            KVC_OK)
      << kvc_context_last_error(ctx);
  return m;
}

TEST(Estimate, PredictsTheBlobSizeOfTheRealCachesWithinFivePercent) {
  const char* files[] = {"stories260K.safetensors", "smollm2-135m.safetensors"};
  struct Setting {
    int key_bits, value_bits;
  };
  const Setting bit_settings[] = {{2, 2}, {3, 3}, {4, 4}, {8, 8}, {16, 16}, {16, 4}, {4, 2}};
  size_t cases = 0;
  double worst = 0.0;
  std::string worst_case;
  for (const char* file : files) {
    const std::string path = kvc_test::data_path(file);
    if (!kvc_test::file_exists(path)) continue;
    Context ctx;
    LoadedCache loaded;
    ASSERT_EQ(kvc_cache_load(ctx, path.c_str(), &loaded.cache), KVC_OK) << ctx.error();
    kvc_cache_shape s{};
    s.struct_size = sizeof s;
    ASSERT_EQ(kvc_cache_get_shape(loaded.cache, &s), KVC_OK);
    std::map<std::string, double> worst_by_bits;
    for (const Setting& b : bit_settings) {
      for (int group : {32, 64, 128}) {
        for (int recent : {0, 64}) {
          if (b.key_bits == 16 && b.value_bits == 16 && (group != 64 || recent != 0)) continue;
          kvc_compress_params p = kvc_api_test::params(b.key_bits, b.value_bits, group, recent);
          std::snprintf(p.model_name, sizeof p.model_name, "%s",
                        kvc_cache_model_name(loaded.cache));
          const kvc_estimate_result e = estimate(ctx, p, s);
          const kvc_metrics m =
              compress(ctx, p, s, kvc_cache_keys(loaded.cache), kvc_cache_values(loaded.cache));
          ASSERT_GT(m.compressed_bytes, 0u);
          EXPECT_EQ(e.original_bytes, m.original_bytes);
          EXPECT_EQ(e.tokens_kept, m.tokens_kept);
          EXPECT_EQ(e.exact_tokens, 1);
          const double error = std::fabs(static_cast<double>(e.compressed_bytes) -
                                         static_cast<double>(m.compressed_bytes)) /
                               static_cast<double>(m.compressed_bytes);
          const std::string name = std::string(file) + " K" + std::to_string(b.key_bits) + " V" +
                                   std::to_string(b.value_bits) + " g" + std::to_string(group) +
                                   " r" + std::to_string(recent);
          EXPECT_LE(error, 0.05) << name << ": predicted " << e.compressed_bytes << ", actual "
                                 << m.compressed_bytes;
          const std::string bits =
              "K" + std::to_string(b.key_bits) + "/V" + std::to_string(b.value_bits);
          worst_by_bits[bits] = std::max(worst_by_bits[bits], error);
          if (error > worst) {
            worst = error;
            worst_case = name;
          }
          ++cases;
        }
      }
    }
    for (const auto& [bits, error] : worst_by_bits) {
      std::printf("[ estimate ] %-26s %-8s worst |error| %.2f%%\n", file, bits.c_str(),
                  100.0 * error);
    }
  }
  if (cases == 0) GTEST_SKIP() << "no example cache in " << kvc_test::data_path("");
  std::printf("[ estimate ] %zu settings, worst |predicted - actual| / actual = %.2f%% (%s)\n",
              cases, 100.0 * worst, worst_case.c_str());
}

TEST(Estimate, TokensKeptMatchWhatSelectionKeepsOnTheRealCaches) {
  struct Case {
    int32_t selection;
    float keep_ratio;
    uint32_t sinks, keep_recent, min_tokens, max_tokens, sliding_window;
    int32_t per_head;
  };
  const Case cases[] = {
      {KVC_SELECT_RECENCY, 0.5f, 4, 32, 0, 0, 0, 0},
      {KVC_SELECT_RECENCY, 0.1f, 4, 32, 0, 0, 0, 0},
      {KVC_SELECT_KEY_NORM, 0.25f, 4, 32, 0, 0, 0, 0},
      {KVC_SELECT_KEY_NORM, 0.3f, 4, 32, 0, 0, 0, 1},
      {KVC_SELECT_KEY_NORM, 0.01f, 8, 64, 0, 0, 0, 0},   // raised to the forced tokens
      {KVC_SELECT_KEY_NORM, 0.5f, 4, 32, 0, 100, 0, 0},  // cut to max_tokens
      {KVC_SELECT_RECENCY, 0.05f, 0, 0, 200, 0, 0, 0},   // raised to min_tokens
      {KVC_SELECT_KEY_NORM, 0.5f, 4, 32, 0, 0, 300, 0},  // within a sliding window
      {KVC_SELECT_NONE, 0.5f, 4, 32, 0, 0, 300, 0},      // the window alone
      {KVC_SELECT_RECENCY, 0.9f, 600, 600, 0, 0, 0, 0},  // forced tokens cover everything
  };
  size_t checked = 0;
  double worst_size_error = 0.0;
  for (const char* file : {"stories260K.safetensors", "smollm2-135m.safetensors"}) {
    const std::string path = kvc_test::data_path(file);
    if (!kvc_test::file_exists(path)) continue;
    Context ctx;
    LoadedCache loaded;
    ASSERT_EQ(kvc_cache_load(ctx, path.c_str(), &loaded.cache), KVC_OK) << ctx.error();
    kvc_cache_shape s{};
    s.struct_size = sizeof s;
    ASSERT_EQ(kvc_cache_get_shape(loaded.cache, &s), KVC_OK);
    for (const Case& c : cases) {
      kvc_compress_params p = kvc_api_test::params(4, 4, 64, 0);
      p.selection = c.selection;
      p.keep_ratio = c.keep_ratio;
      p.sink_tokens = c.sinks;
      p.recent_always_kept_tokens = c.keep_recent;
      p.min_tokens = c.min_tokens;
      p.max_tokens = c.max_tokens;
      p.sliding_window = c.sliding_window;
      p.per_head = c.per_head;
      const kvc_estimate_result e = estimate(ctx, p, s);
      const kvc_metrics m =
          compress(ctx, p, s, kvc_cache_keys(loaded.cache), kvc_cache_values(loaded.cache));
      EXPECT_EQ(e.exact_tokens, 1);
      EXPECT_EQ(e.tokens_total, m.tokens_total);
      EXPECT_EQ(e.tokens_kept, m.tokens_kept)
          << file << " selection " << c.selection << " ratio " << c.keep_ratio << " sinks "
          << c.sinks << " recent " << c.keep_recent << " min " << c.min_tokens << " max "
          << c.max_tokens << " window " << c.sliding_window;
      if (m.compressed_bytes > 0) {
        worst_size_error =
            std::max(worst_size_error, std::fabs(static_cast<double>(e.compressed_bytes) -
                                                 static_cast<double>(m.compressed_bytes)) /
                                           static_cast<double>(m.compressed_bytes));
      }
      ++checked;
    }
  }
  if (checked == 0) GTEST_SKIP() << "no example cache in " << kvc_test::data_path("");
  // Sizes are only reported here: evicted tokens change what the entropy stage sees.
  std::printf("[ estimate ] selection: %zu cases, token counts exact, worst size error %.2f%%\n",
              checked, 100.0 * worst_size_error);
}

TEST(Estimate, RatioSavingsAndBitsFollowFromThePredictedSize) {
  Context ctx;
  const kvc_cache_shape s = kvc_api_test::shape(2, 4, 256, 64);
  const kvc_estimate_result e = estimate(ctx, kvc_api_test::params(4, 2), s);
  ASSERT_GT(e.compressed_bytes, 0u);
  EXPECT_EQ(e.original_bytes, 2u * 2 * 4 * 256 * 64 * 2);
  EXPECT_DOUBLE_EQ(e.compression_ratio,
                   static_cast<double>(e.original_bytes) / static_cast<double>(e.compressed_bytes));
  EXPECT_DOUBLE_EQ(e.bandwidth_savings_percent,
                   100.0 * (1.0 - static_cast<double>(e.compressed_bytes) /
                                      static_cast<double>(e.original_bytes)));
  EXPECT_DOUBLE_EQ(e.bits_per_element,
                   8.0 * static_cast<double>(e.compressed_bytes) / (2.0 * 2 * 4 * 256 * 64));
  EXPECT_EQ(e.tokens_total, 2u * 256);
  EXPECT_EQ(e.tokens_kept, 2u * 256);
  // Fewer bits predict a smaller blob; no entropy stage predicts a larger one.
  const kvc_estimate_result e8 = estimate(ctx, kvc_api_test::params(8, 8), s);
  EXPECT_LT(e.compressed_bytes, e8.compressed_bytes);
  kvc_compress_params raw = kvc_api_test::params(4, 2);
  raw.zstd_level = 0;
  EXPECT_GT(estimate(ctx, raw, s).compressed_bytes, e.compressed_bytes);
}

TEST(Estimate, TokenCountsFollowTheSelectionPolicy) {
  Context ctx;
  const kvc_cache_shape s = kvc_api_test::shape(3, 2, 1000, 64);
  kvc_compress_params p = kvc_api_test::params();
  p.sink_tokens = 4;
  p.recent_always_kept_tokens = 32;
  p.selection = KVC_SELECT_RECENCY;
  p.keep_ratio = 0.25f;
  kvc_estimate_result e = estimate(ctx, p, s);
  EXPECT_EQ(e.tokens_total, 3u * 1000);
  EXPECT_EQ(e.tokens_kept, 3u * 250);
  EXPECT_EQ(e.exact_tokens, 1);
  p.keep_ratio = 0.01f;  // 10 tokens, raised to the 4 sinks + 32 recent
  EXPECT_EQ(estimate(ctx, p, s).tokens_kept, 3u * 36);
  p.min_tokens = 100;
  EXPECT_EQ(estimate(ctx, p, s).tokens_kept, 3u * 100);
  p.max_tokens = 20;
  p.min_tokens = 0;
  EXPECT_EQ(estimate(ctx, p, s).tokens_kept, 3u * 20);  // max_tokens wins over the forced ones
  p.max_tokens = 0;
  p.selection = KVC_SELECT_NONE;
  p.sliding_window = 300;
  EXPECT_EQ(estimate(ctx, p, s).tokens_kept, 3u * 300);
  p.selection = KVC_SELECT_ATTENTION;
  p.attention_threshold = 0.9f;
  e = estimate(ctx, p, s);
  EXPECT_EQ(e.exact_tokens, 0);
  EXPECT_EQ(e.tokens_kept, 3u * 300);  // the most attention selection can keep
  // Fewer tokens predict a smaller blob.
  p.selection = KVC_SELECT_KEY_NORM;
  p.keep_ratio = 0.5f;
  EXPECT_LT(estimate(ctx, p, s).compressed_bytes, e.compressed_bytes);
}

TEST(Estimate, InvalidArgumentsAreRejectedWithTheFieldNamed) {
  Context ctx;
  const kvc_cache_shape s = kvc_api_test::shape(1, 1, 16, 64);
  kvc_estimate_result e{};
  e.struct_size = sizeof e;
  kvc_compress_params p = kvc_api_test::params();
  p.key_bits = 5;
  EXPECT_EQ(kvc_estimate(ctx, &p, &s, &e), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "key_bits 5"));
  p = kvc_api_test::params();
  p.group_size = 48;
  EXPECT_EQ(kvc_estimate(ctx, &p, &s, &e), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "group_size 48"));
  p = kvc_api_test::params();
  p.selection = 9;
  EXPECT_EQ(kvc_estimate(ctx, &p, &s, &e), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "selection 9"));
  p = kvc_api_test::params();
  p.selection = KVC_SELECT_KEY_NORM;
  p.keep_ratio = 1.5f;
  EXPECT_EQ(kvc_estimate(ctx, &p, &s, &e), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "keep_ratio"));
  kvc_cache_shape bad = s;
  bad.dtype = 7;
  EXPECT_EQ(kvc_estimate(ctx, nullptr, &bad, &e), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "dtype"));
  EXPECT_EQ(kvc_estimate(ctx, nullptr, nullptr, &e), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "shape is NULL"));
  EXPECT_EQ(kvc_estimate(ctx, nullptr, &s, nullptr), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "out_estimate is NULL"));
  EXPECT_EQ(kvc_estimate(nullptr, nullptr, &s, &e), KVC_ERR_INVALID_ARGUMENT);
}

}  // namespace
