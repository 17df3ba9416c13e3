// reconstruction_test.cpp: RMSE, SNR, cosine and max error against hand-computed values; levels.
#include "metrics/reconstruction.h"

#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "unit/codec_helpers.h"
#include "unit/test_data.h"

namespace kvc {
namespace {

using test::PackedCache;

PackedCache cache_of(const std::vector<float>& keys, const std::vector<float>& values,
                     CacheDims dims, DType dtype = DType::F32) {
  PackedCache c;
  c.dims = dims;
  c.dims.dtype = dtype;
  c.keys = kvc_test::encode(keys, static_cast<int>(dtype));
  c.values = kvc_test::encode(values, static_cast<int>(dtype));
  return c;
}

QualityReport compare(const PackedCache& a, const PackedCache& b,
                      QualityThresholds t = QualityThresholds{}) {
  return compare_caches(cpu_backend(), test::view_of(a), test::view_of(b), t);
}

TEST(Reconstruction, IdenticalCachesAreExcellentWithCappedSnr) {
  const PackedCache a = test::pack(kvc_test::make_gaussian_cache(2, 2, 10, 8, 1), DType::F16);
  const QualityReport r = compare(a, a);
  for (const ErrorStats* s : {&r.keys, &r.values, &r.all}) {
    EXPECT_EQ(s->rmse, 0.0);
    EXPECT_EQ(s->max_error, 0.0);
    EXPECT_EQ(s->snr_db, kMaxSnrDb);
    EXPECT_NEAR(s->cosine, 1.0, 1e-12);
    EXPECT_FALSE(s->non_finite);
  }
  EXPECT_EQ(r.level, QualityLevel::Excellent);
  EXPECT_EQ(r.violations, 0u);
}

TEST(Reconstruction, FiguresMatchHandComputedValues) {
  const CacheDims dims{1, 1, 2, 2, DType::F32};
  // Keys: a = (1, 2, 3, 4), b = (1, 2, 3, 5): one error of 1.
  // Values: a = (1, 0, 0, 1), b = (0, 1, 0, 1): orthogonal in part.
  const PackedCache a = cache_of({1, 2, 3, 4}, {1, 0, 0, 1}, dims);
  const PackedCache b = cache_of({1, 2, 3, 5}, {0, 1, 0, 1}, dims);
  const QualityReport r = compare(a, b);
  EXPECT_DOUBLE_EQ(r.keys.rmse, std::sqrt(1.0 / 4));
  EXPECT_DOUBLE_EQ(r.keys.max_error, 1.0);
  EXPECT_DOUBLE_EQ(r.keys.snr_db, 10 * std::log10(30.0 / 1.0));
  EXPECT_DOUBLE_EQ(r.keys.cosine, (1 + 4 + 9 + 20) / (std::sqrt(30.0) * std::sqrt(39.0)));
  EXPECT_DOUBLE_EQ(r.values.rmse, std::sqrt(2.0 / 4));
  EXPECT_DOUBLE_EQ(r.values.snr_db, 10 * std::log10(2.0 / 2.0));
  EXPECT_DOUBLE_EQ(r.values.cosine, 1.0 / 2.0);
  EXPECT_DOUBLE_EQ(r.all.rmse, std::sqrt(3.0 / 8));
  EXPECT_DOUBLE_EQ(r.all.snr_db, 10 * std::log10(32.0 / 3.0));
  EXPECT_DOUBLE_EQ(r.all.cosine, (34.0 + 1.0) / (std::sqrt(32.0) * std::sqrt(41.0)));
  EXPECT_EQ(r.level, QualityLevel::Poor);  // the values' cosine 0.5
  // Keys: cosine 0.994 passes 0.99, SNR 14.8 dB fails 20; values fail both.
  EXPECT_EQ(r.violations, static_cast<uint32_t>(KVC_VIOLATION_KEY_SNR | KVC_VIOLATION_VALUE_COSINE |
                                                KVC_VIOLATION_VALUE_SNR));
}

TEST(Reconstruction, DTypesAndStridesMayDiffer) {
  const kvc_test::FloatCache f = kvc_test::make_gaussian_cache(2, 3, 20, 16, 2);
  const PackedCache a = test::pack(f, DType::F16);
  // b: the same values as fp32, with rows 20 elements apart and heads padded.
  const uint64_t token_stride = 20, head_stride = 20 * 21;
  const size_t layer_elements = 3 * head_stride;
  std::vector<float> bk(2 * layer_elements, 99.0f), bv(2 * layer_elements, 99.0f);
  for (uint32_t l = 0; l < 2; ++l) {
    for (uint32_t h = 0; h < 3; ++h) {
      for (uint32_t t = 0; t < 20; ++t) {
        for (uint32_t d = 0; d < 16; ++d) {
          const size_t src = ((size_t{l} * 3 + h) * 20 + t) * 16 + d;
          const size_t dst = l * layer_elements + h * head_stride + t * token_stride + d;
          bk[dst] = static_cast<float>(kvc_test::element_value(a.keys.data(), kvc_test::kF16, src));
          bv[dst] =
              static_cast<float>(kvc_test::element_value(a.values.data(), kvc_test::kF16, src));
        }
      }
    }
  }
  kvc_cache_shape shape = test::shape_of(a.dims);
  shape.dtype = KVC_DTYPE_F32;
  shape.token_stride = token_stride;
  shape.head_stride = head_stride;
  shape.layer_stride = layer_elements;
  const QualityReport r =
      compare_caches(cpu_backend(), test::view_of(a),
                     view_from_packed(shape, bk.data(), bk.size() * sizeof(bk[0]), bv.data(),
                                      bv.size() * sizeof(bv[0])),
                     {});
  EXPECT_EQ(r.all.rmse, 0.0);
  EXPECT_EQ(r.level, QualityLevel::Excellent);
}

TEST(Reconstruction, NonFiniteReconstructionIsPoorAndFlagged) {
  const CacheDims dims{1, 1, 2, 2, DType::F32};
  const PackedCache a = cache_of({1, 2, 3, 4}, {1, 2, 3, 4}, dims);
  PackedCache b = a;
  const float nan = NAN;
  std::memcpy(b.values.data() + 4, &nan, 4);
  const QualityReport r = compare(a, b);
  EXPECT_TRUE(r.values.non_finite);
  EXPECT_FALSE(r.keys.non_finite);
  EXPECT_TRUE(r.all.non_finite);
  EXPECT_EQ(r.level, QualityLevel::Poor);
  EXPECT_TRUE(r.violations & KVC_VIOLATION_NON_FINITE);
  // A NaN in the original is skipped: nothing to measure against.
  const QualityReport skipped = compare(b, a);
  EXPECT_FALSE(skipped.all.non_finite);
  EXPECT_EQ(skipped.values.rmse, 0.0);
}

TEST(Reconstruction, AllZeroOriginalWithNonZeroReconstruction) {
  const CacheDims dims{1, 1, 1, 4, DType::F32};
  const PackedCache zero = cache_of({0, 0, 0, 0}, {0, 0, 0, 0}, dims);
  const PackedCache one = cache_of({0, 0, 0, 1}, {0, 0, 0, 0}, dims);
  const QualityReport r = compare(zero, one);
  EXPECT_EQ(r.keys.snr_db, -kMaxSnrDb);
  EXPECT_EQ(r.keys.cosine, 0.0);
  EXPECT_EQ(r.values.snr_db, kMaxSnrDb);
  EXPECT_EQ(r.values.cosine, 1.0);
  EXPECT_EQ(r.level, QualityLevel::Poor);
}

TEST(Reconstruction, LevelsFollowTheirCosineAndSnrThresholds) {
  auto level = [](double cosine, double snr) {
    ErrorStats s;
    s.cosine = cosine;
    s.snr_db = snr;
    return level_of(s);
  };
  EXPECT_EQ(level(0.999, 30), QualityLevel::Excellent);
  EXPECT_EQ(level(0.9989, 40), QualityLevel::Good);
  EXPECT_EQ(level(0.9999, 29.9), QualityLevel::Good);
  EXPECT_EQ(level(0.99, 20), QualityLevel::Good);
  EXPECT_EQ(level(0.99, 19.9), QualityLevel::Acceptable);
  EXPECT_EQ(level(0.95, 10), QualityLevel::Acceptable);
  EXPECT_EQ(level(0.9499, 50), QualityLevel::Poor);
  EXPECT_EQ(level(1.0, 9.9), QualityLevel::Poor);
  ErrorStats bad;
  bad.non_finite = true;
  EXPECT_EQ(level_of(bad), QualityLevel::Poor);
}

TEST(Reconstruction, ViolationsFollowTheGivenThresholds) {
  const CacheDims dims{1, 1, 2, 2, DType::F32};
  const PackedCache a = cache_of({1, 2, 3, 4}, {1, 2, 3, 4}, dims);
  const PackedCache b = cache_of({1, 2, 3, 4.1f}, {1, 2, 3, 5}, dims);
  const QualityReport base = compare(a, b);
  QualityThresholds lax;
  lax.min_cosine = 0.0;
  lax.min_snr_db = -1000;
  EXPECT_EQ(compare(a, b, lax).violations, 0u);
  QualityThresholds strict;
  strict.min_cosine = 1.0;
  strict.min_snr_db = 1000;
  EXPECT_EQ(compare(a, b, strict).violations,
            static_cast<uint32_t>(KVC_VIOLATION_KEY_COSINE | KVC_VIOLATION_VALUE_COSINE |
                                  KVC_VIOLATION_KEY_SNR | KVC_VIOLATION_VALUE_SNR));
  QualityThresholds between;  // key SNR 34.8 dB, value SNR 14.8 dB
  between.min_cosine = 0.0;
  between.min_snr_db = 20;
  EXPECT_EQ(compare(a, b, between).violations, static_cast<uint32_t>(KVC_VIOLATION_VALUE_SNR));
  const double key_error = double{4.1f} - 4.0;
  EXPECT_NEAR(base.keys.snr_db, 10 * std::log10(30.0 / (key_error * key_error)), 1e-9);
}

TEST(Reconstruction, CachesOfDifferentShapesAreRejectedWithBothShapes) {
  const PackedCache a = test::pack(kvc_test::make_gaussian_cache(1, 2, 4, 8, 1), DType::F16);
  const PackedCache b = test::pack(kvc_test::make_gaussian_cache(1, 2, 5, 8, 1), DType::F16);
  try {
    compare(a, b);
    FAIL() << "different shapes were compared";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), KVC_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("[1,2,4,8] vs [1,2,5,8]"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kvc
