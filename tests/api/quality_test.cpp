// quality_test.cpp: C API section "Quality": thresholds, levels, violations and comparisons.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"
#include "unit/test_data.h"

namespace {

using kvc_api_test::Cache;
using kvc_api_test::contains;
using kvc_api_test::Context;

kvc_quality compare(kvc_context* ctx, const Cache& a, const kvc_cache_shape& shape_b,
                    const void* keys_b, const void* values_b,
                    const kvc_quality_thresholds* thresholds = nullptr) {
  kvc_quality q{};
  q.struct_size = sizeof q;
  EXPECT_EQ(
      kvc_quality_compare(ctx, thresholds, &a.shape, a.keys.data(), kvc_sized::nbytes(a.keys),
                          a.values.data(), kvc_sized::nbytes(a.values), &shape_b, keys_b,
                          kvc_sized::extent(&shape_b), values_b, kvc_sized::extent(&shape_b), &q),
      KVC_OK)
      << kvc_context_last_error(ctx);
  return q;
}

// The reconstruction of a after a round trip at these bits.
kvc_api_test::Decoded round_trip(kvc_context* ctx, const Cache& a, int bits, int group = 64) {
  return kvc_api_test::decompress(
      ctx, kvc_api_test::compress(ctx, kvc_api_test::params(bits, bits, group), a));
}

TEST(QualityThresholds, DefaultsAreCosine099AndSnr20Db) {
  kvc_quality_thresholds t;
  std::memset(&t, 0x5A, sizeof t);
  ASSERT_EQ(kvc_quality_thresholds_default(&t, sizeof t), KVC_OK);
  EXPECT_EQ(t.struct_size, sizeof t);
  EXPECT_FLOAT_EQ(t.min_cosine, 0.99f);
  EXPECT_FLOAT_EQ(t.min_snr_db, 20.0f);
  std::memset(&t, 0x5A, sizeof t);
  ASSERT_EQ(kvc_quality_thresholds_default(&t, offsetof(kvc_quality_thresholds, min_snr_db)),
            KVC_OK);
  EXPECT_FLOAT_EQ(t.min_cosine, 0.99f);
  uint32_t snr_bits;
  std::memcpy(&snr_bits, &t.min_snr_db, 4);
  EXPECT_EQ(snr_bits, 0x5A5A5A5Au);  // beyond the given size: untouched
  EXPECT_EQ(kvc_quality_thresholds_default(&t, sizeof t + 4), KVC_ERR_UNSUPPORTED_VERSION);
}

TEST(Quality, LevelNamesCoverEveryLevelAndUnknownOnes) {
  EXPECT_STREQ(kvc_quality_level_name(KVC_QUALITY_POOR), "POOR");
  EXPECT_STREQ(kvc_quality_level_name(KVC_QUALITY_ACCEPTABLE), "ACCEPTABLE");
  EXPECT_STREQ(kvc_quality_level_name(KVC_QUALITY_GOOD), "GOOD");
  EXPECT_STREQ(kvc_quality_level_name(KVC_QUALITY_EXCELLENT), "EXCELLENT");
  EXPECT_STREQ(kvc_quality_level_name(4), "UNKNOWN");
  EXPECT_STREQ(kvc_quality_level_name(-1), "UNKNOWN");
}

TEST(Quality, AnIdenticalCacheIsExcellentAndPasses) {
  Context ctx;
  const Cache a = kvc_api_test::gaussian_cache(2, 2, 32, 16);
  const kvc_quality q = compare(ctx, a, a.shape, a.keys.data(), a.values.data());
  EXPECT_EQ(q.level, KVC_QUALITY_EXCELLENT);
  EXPECT_EQ(q.passed, 1);
  EXPECT_EQ(q.violations, 0u);
  EXPECT_EQ(q.rmse, 0.0);
  EXPECT_EQ(q.max_error, 0.0);
  EXPECT_EQ(q.snr_db, 200.0);  // capped
  EXPECT_NEAR(q.cosine, 1.0, 1e-12);
  EXPECT_EQ(ctx.error(), "");
}

TEST(Quality, LevelsFallWithFewerBitsAndFiguresAgree) {
  Context ctx;
  const Cache a = kvc_api_test::gaussian_cache(2, 4, 256, 64, KVC_DTYPE_F32, 8);
  int previous_level = KVC_QUALITY_EXCELLENT;
  double previous_snr = 1e9;
  for (int bits : {8, 4, 3, 2}) {
    const kvc_api_test::Decoded d = round_trip(ctx, a, bits);
    const kvc_quality q = compare(ctx, a, a.shape, d.keys.data(), d.values.data());
    EXPECT_LE(q.level, previous_level) << bits;
    EXPECT_LT(q.snr_db, previous_snr) << bits;
    EXPECT_EQ(q.passed, q.violations == 0 ? 1 : 0);
    EXPECT_LE(q.key_max_error, q.max_error);
    EXPECT_LE(q.value_max_error, q.max_error);
    EXPECT_EQ(q.max_error, std::max(q.key_max_error, q.value_max_error));
    EXPECT_GE(q.rmse, std::min(q.key_rmse, q.value_rmse));
    EXPECT_LE(q.rmse, std::max(q.key_rmse, q.value_rmse));
    previous_level = q.level;
    previous_snr = q.snr_db;
    if (bits == 8) {
      EXPECT_EQ(q.level, KVC_QUALITY_EXCELLENT);
      EXPECT_EQ(q.violations, 0u);
    }
    if (bits == 2) {
      // About 9 dB SNR on values: below the default 20 dB, so the comparison fails.
      EXPECT_LE(q.level, KVC_QUALITY_ACCEPTABLE);
      EXPECT_TRUE(q.violations & KVC_VIOLATION_VALUE_SNR);
      EXPECT_EQ(q.passed, 0);
    }
  }
}

TEST(Quality, ViolationsFollowCustomThresholds) {
  Context ctx;
  const Cache a = kvc_api_test::gaussian_cache(2, 2, 128, 32, KVC_DTYPE_F32, 9);
  const kvc_api_test::Decoded d = round_trip(ctx, a, 4);
  const kvc_quality measured = compare(ctx, a, a.shape, d.keys.data(), d.values.data());
  kvc_quality_thresholds t;
  ASSERT_EQ(kvc_quality_thresholds_default(&t, sizeof t), KVC_OK);

  t.min_cosine = 0.0f;
  t.min_snr_db = -1000.0f;
  kvc_quality q = compare(ctx, a, a.shape, d.keys.data(), d.values.data(), &t);
  EXPECT_EQ(q.violations, 0u);
  EXPECT_EQ(q.passed, 1);
  EXPECT_EQ(q.level, measured.level);  // the level does not depend on the thresholds

  t.min_cosine = 1.0f;
  t.min_snr_db = 1000.0f;
  q = compare(ctx, a, a.shape, d.keys.data(), d.values.data(), &t);
  EXPECT_EQ(q.violations,
            static_cast<uint32_t>(KVC_VIOLATION_KEY_COSINE | KVC_VIOLATION_VALUE_COSINE |
                                  KVC_VIOLATION_KEY_SNR | KVC_VIOLATION_VALUE_SNR));
  EXPECT_EQ(q.passed, 0);

  // A threshold between the key and the value SNR flags only the lower one.
  const double low = std::min(measured.key_snr_db, measured.value_snr_db);
  const double high = std::max(measured.key_snr_db, measured.value_snr_db);
  ASSERT_GT(high - low, 0.2);
  t.min_cosine = 0.0f;
  t.min_snr_db = static_cast<float>((low + high) / 2);
  q = compare(ctx, a, a.shape, d.keys.data(), d.values.data(), &t);
  EXPECT_EQ(q.violations, measured.key_snr_db < measured.value_snr_db
                              ? static_cast<uint32_t>(KVC_VIOLATION_KEY_SNR)
                              : static_cast<uint32_t>(KVC_VIOLATION_VALUE_SNR));
}

TEST(Quality, ANonFiniteReconstructionIsPoorAndFlagged) {
  Context ctx;
  const Cache a = kvc_api_test::gaussian_cache(1, 1, 16, 8, KVC_DTYPE_F32);
  std::vector<unsigned char> values = a.values;
  const float nan = NAN;
  std::memcpy(values.data() + 4 * 17, &nan, 4);
  const kvc_quality q = compare(ctx, a, a.shape, a.keys.data(), values.data());
  EXPECT_EQ(q.level, KVC_QUALITY_POOR);
  EXPECT_TRUE(q.violations & KVC_VIOLATION_NON_FINITE);
  EXPECT_EQ(q.passed, 0);
}

TEST(Quality, DTypesAndStridesOfTheTwoCachesMayDiffer) {
  Context ctx;
  const Cache a = kvc_api_test::gaussian_cache(2, 2, 16, 8, KVC_DTYPE_BF16);
  // b: the same values widened to fp32, rows padded to 10 elements.
  kvc_cache_shape sb = a.shape;
  sb.dtype = KVC_DTYPE_F32;
  sb.token_stride = 10;
  sb.head_stride = 16 * 10;  // 0 would mean tokens * head_dim, whatever token_stride is
  std::vector<float> keys(a.elements() / 8 * 10, 0.0f), values(keys.size(), 0.0f);
  for (size_t row = 0; row < a.elements() / 8; ++row) {
    for (size_t d = 0; d < 8; ++d) {
      keys[row * 10 + d] =
          static_cast<float>(kvc_test::element_value(a.keys.data(), kvc_test::kBF16, row * 8 + d));
      values[row * 10 + d] = static_cast<float>(
          kvc_test::element_value(a.values.data(), kvc_test::kBF16, row * 8 + d));
    }
  }
  const kvc_quality q = compare(ctx, a, sb, keys.data(), values.data());
  EXPECT_EQ(q.rmse, 0.0);
  EXPECT_EQ(q.level, KVC_QUALITY_EXCELLENT);
}

TEST(Quality, BadArgumentsAreRejectedWithTheValueNamed) {
  Context ctx;
  const Cache a = kvc_api_test::gaussian_cache(1, 2, 16, 8);
  const Cache b = kvc_api_test::gaussian_cache(1, 2, 17, 8);
  kvc_quality q{};
  q.struct_size = sizeof q;
  EXPECT_EQ(kvc_quality_compare(ctx, nullptr, &a.shape, a.keys.data(), kvc_sized::nbytes(a.keys),
                                a.values.data(), kvc_sized::nbytes(a.values), &b.shape,
                                b.keys.data(), kvc_sized::nbytes(b.keys), b.values.data(),
                                kvc_sized::nbytes(b.values), &q),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "caches differ in shape: [1,2,16,8] vs [1,2,17,8]"));
  EXPECT_EQ(kvc_quality_compare(ctx, nullptr, nullptr, a.keys.data(), kvc_sized::nbytes(a.keys),
                                a.values.data(), kvc_sized::nbytes(a.values), &a.shape,
                                a.keys.data(), kvc_sized::nbytes(a.keys), a.values.data(),
                                kvc_sized::nbytes(a.values), &q),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "shape_a or shape_b is NULL"));
  EXPECT_EQ(kvc_quality_compare(ctx, nullptr, &a.shape, a.keys.data(), kvc_sized::nbytes(a.keys),
                                a.values.data(), kvc_sized::nbytes(a.values), &a.shape,
                                a.keys.data(), kvc_sized::nbytes(a.keys), a.values.data(),
                                kvc_sized::nbytes(a.values), nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "out_quality is NULL"));
  EXPECT_EQ(kvc_quality_compare(ctx, nullptr, &a.shape, a.keys.data(), kvc_sized::nbytes(a.keys),
                                nullptr, 0, &a.shape, a.keys.data(), kvc_sized::nbytes(a.keys),
                                a.values.data(), kvc_sized::nbytes(a.values), &q),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "values is NULL"));

  kvc_quality_thresholds t;
  ASSERT_EQ(kvc_quality_thresholds_default(&t, sizeof t), KVC_OK);
  t.struct_size = sizeof t + 4;
  EXPECT_EQ(kvc_quality_compare(ctx, &t, &a.shape, a.keys.data(), kvc_sized::nbytes(a.keys),
                                a.values.data(), kvc_sized::nbytes(a.values), &a.shape,
                                a.keys.data(), kvc_sized::nbytes(a.keys), a.values.data(),
                                kvc_sized::nbytes(a.values), &q),
            KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), "kvc_quality_thresholds.struct_size"));
  q.struct_size = sizeof q + 8;
  EXPECT_EQ(kvc_quality_compare(ctx, nullptr, &a.shape, a.keys.data(), kvc_sized::nbytes(a.keys),
                                a.values.data(), kvc_sized::nbytes(a.values), &a.shape,
                                a.keys.data(), kvc_sized::nbytes(a.keys), a.values.data(),
                                kvc_sized::nbytes(a.values), &q),
            KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), "out_quality.struct_size"));
}

TEST(Quality, AnOlderQualityStructIsWrittenNoFurther) {
  Context ctx;
  const Cache a = kvc_api_test::gaussian_cache(1, 2, 16, 8);
  std::vector<unsigned char> raw(sizeof(kvc_quality) + 64, 0xC3);
  const uint32_t old_size = offsetof(kvc_quality, value_rmse);
  std::memcpy(raw.data(), &old_size, 4);
  auto* q = reinterpret_cast<kvc_quality*>(raw.data());
  ASSERT_EQ(kvc_quality_compare(ctx, nullptr, &a.shape, a.keys.data(), kvc_sized::nbytes(a.keys),
                                a.values.data(), kvc_sized::nbytes(a.values), &a.shape,
                                a.keys.data(), kvc_sized::nbytes(a.keys), a.values.data(),
                                kvc_sized::nbytes(a.values), q),
            KVC_OK);
  EXPECT_EQ(q->struct_size, old_size);
  EXPECT_EQ(q->level, KVC_QUALITY_EXCELLENT);
  for (size_t i = old_size; i < raw.size(); ++i) ASSERT_EQ(raw[i], 0xC3) << i;
}

}  // namespace
