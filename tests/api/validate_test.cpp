// validate_test.cpp: kvc_validate through the C API: levels, violations, warnings and
// recommendations, thresholds from params, blob and adapter, and bad input.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>

#include <cstring>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"

using kvc_api_test::Cache;
using kvc_api_test::contains;
using kvc_api_test::Context;

namespace {

kvc_validation validate(kvc_context* ctx, const Cache& c, const std::vector<unsigned char>& blob,
                        const kvc_validate_params* params = nullptr,
                        const kvc_adapter* adapter = nullptr, kvc_status expected = KVC_OK) {
  kvc_validation v{};
  v.struct_size = sizeof v;
  EXPECT_EQ(kvc_validate(ctx, params, adapter, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                         c.values.data(), kvc_sized::nbytes(c.values), nullptr, nullptr, 0,
                         blob.data(), blob.size(), &v),
            expected)
      << kvc_context_last_error(ctx);
  return v;
}

}  // namespace

TEST(Validate, TwoBitsViolateAndRecommendMoreBits) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 64, 32);
  const std::vector<unsigned char> blob =
      kvc_api_test::compress(ctx, kvc_api_test::params(2, 2), c);
  const kvc_validation v = validate(ctx, c, blob);
  EXPECT_EQ(v.passed, 0);
  EXPECT_NE(v.violations & (KVC_VIOLATION_KEY_COSINE | KVC_VIOLATION_KEY_SNR), 0u);
  EXPECT_NE(v.recommendations & KVC_RECOMMEND_MORE_KEY_BITS, 0u);
  EXPECT_NE(v.recommendations & KVC_RECOMMEND_MORE_VALUE_BITS, 0u);
  EXPECT_NE(v.warnings & KVC_WARNING_NO_QUERIES, 0u);
  EXPECT_EQ(v.attention_coverage, -1.0);
  EXPECT_TRUE(contains(v.report, "recommend: raise key_bits"));
  EXPECT_EQ(v.tokens_total, 2u * 64);
  EXPECT_EQ(v.tokens_kept, 2u * 64);
  EXPECT_GT(v.information_loss, 0.0);
}

TEST(Validate, EightBitsHaveQualityToSpare) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 64, 32);
  const std::vector<unsigned char> blob =
      kvc_api_test::compress(ctx, kvc_api_test::params(8, 8), c);
  const kvc_validation v = validate(ctx, c, blob);
  EXPECT_EQ(v.passed, 1);
  EXPECT_EQ(v.level, KVC_QUALITY_EXCELLENT);
  EXPECT_NE(v.warnings & KVC_WARNING_QUALITY_TO_SPARE, 0u);
  EXPECT_NE(v.recommendations & KVC_RECOMMEND_FEWER_BITS, 0u);
  EXPECT_LT(v.information_loss, 1e-4);
}

TEST(Validate, LosslessIsExactAndParamsTightenThresholds) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(1, 2, 64, 32);
  const std::vector<unsigned char> lossless =
      kvc_api_test::compress(ctx, kvc_api_test::params(16, 16), c);
  const kvc_validation exact = validate(ctx, c, lossless);
  EXPECT_EQ(exact.information_loss, 0.0);
  EXPECT_EQ(exact.max_error, 0.0);
  const std::vector<unsigned char> blob =
      kvc_api_test::compress(ctx, kvc_api_test::params(4, 4), c);
  kvc_validate_params p;
  ASSERT_EQ(kvc_validate_params_default(&p, sizeof p), KVC_OK);
  EXPECT_FLOAT_EQ(p.min_cosine, 0.99f);
  EXPECT_EQ(validate(ctx, c, blob, &p).passed, 1);
  p.min_cosine = 0.999999f;
  const kvc_validation strict = validate(ctx, c, blob, &p);
  EXPECT_EQ(strict.passed, 0);
  EXPECT_NE(strict.violations & KVC_VIOLATION_KEY_COSINE, 0u);
}

TEST(Validate, BadInputNamesTheProblem) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(1, 2, 64, 32);
  const std::vector<unsigned char> blob =
      kvc_api_test::compress(ctx, kvc_api_test::params(4, 4), c);
  Cache other = kvc_api_test::gaussian_cache(1, 2, 32, 32);
  validate(ctx, other, blob, nullptr, nullptr, KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "the shape says"));
  const kvc_adapter* llama = nullptr;
  ASSERT_EQ(kvc_adapter_find("llama-3-8b", &llama), KVC_OK);  // 8 KV heads of 128
  validate(ctx, c, blob, nullptr, llama, KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "llama-3-8b"));
  std::vector<unsigned char> broken = blob;
  broken[broken.size() / 2] ^= 0x10;
  validate(ctx, c, broken, nullptr, nullptr, KVC_ERR_CORRUPT_DATA);
  kvc_validate_params p;
  ASSERT_EQ(kvc_validate_params_default(&p, sizeof p), KVC_OK);
  p.min_attention_coverage = 1.5f;
  validate(ctx, c, blob, &p, nullptr, KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "min_attention_coverage"));
}
