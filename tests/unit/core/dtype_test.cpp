// dtype_test.cpp: fp16/bf16 <-> fp32 conversions checked exhaustively and against a slow reference.
#include "core/dtype.h"

#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "unit/test_data.h"

namespace kvc {
namespace {

using kvc_test::bits_float;
using kvc_test::float_bits;

bool is_half_nan(uint16_t h) { return (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0; }
bool is_bf16_nan(uint16_t b) { return (b & 0x7F80) == 0x7F80 && (b & 0x7F) != 0; }

// Floats that exercise rounding to a 16-bit format: every midpoint between neighbouring finite
// codes (ties) and its two float neighbours, random bit patterns, random floats near the
// format's range, float subnormals and named edge cases; both signs.
std::vector<float> rounding_probes(double (*value_of)(uint16_t), uint16_t max_finite,
                                   double overflow_value, int min_exponent, int max_exponent) {
  std::vector<float> probes;
  auto add = [&probes](float f) {
    if (std::isnan(f)) return;
    probes.push_back(f);
    probes.push_back(-f);
  };
  for (uint32_t c = 0; c <= max_finite; ++c) {
    const double above = c == max_finite ? overflow_value : value_of(static_cast<uint16_t>(c + 1));
    const auto tie = static_cast<float>((value_of(static_cast<uint16_t>(c)) + above) / 2);
    add(tie);
    add(std::nextafter(tie, 0.0f));
    add(std::nextafter(tie, INFINITY));
  }
  std::mt19937 rng(20240601);
  for (int i = 0; i < 200000; ++i) add(bits_float(static_cast<uint32_t>(rng())));
  std::uniform_int_distribution<int> exponent(min_exponent, max_exponent);
  for (int i = 0; i < 200000; ++i) {
    add(std::ldexp(1.0f + static_cast<float>(rng() & 0x7FFFFF) / 8388608.0f, exponent(rng)));
  }
  for (int i = 0; i < 20000; ++i) add(bits_float(static_cast<uint32_t>(rng()) & 0x007FFFFFu));
  for (float f : {0.0f, 1.0f, 65504.0f, 65519.0f, 65520.0f, 65536.0f, 1e6f, FLT_MAX, INFINITY,
                  FLT_MIN, FLT_TRUE_MIN, 0x1p-24f, 0x1p-25f, 0x1.000002p-25f, 0x1.8p-24f, 0x1p-14f,
                  0x1.ff8p-15f, 3.3895314e38f, 3.4028235e38f}) {
    add(f);
  }
  return probes;
}

TEST(DType, SizesAndNamesAreThoseOfTheFormats) {
  EXPECT_EQ(dtype_size(DType::F32), 4u);
  EXPECT_EQ(dtype_size(DType::F16), 2u);
  EXPECT_EQ(dtype_size(DType::BF16), 2u);
  EXPECT_STREQ(dtype_name(DType::F32), "float32");
  EXPECT_STREQ(dtype_name(DType::F16), "float16");
  EXPECT_STREQ(dtype_name(DType::BF16), "bfloat16");
}

TEST(DType, UnknownCDTypeIsRejectedWithTheFieldNamed) {
  EXPECT_EQ(dtype_from_c(KVC_DTYPE_BF16, "x"), DType::BF16);
  try {
    dtype_from_c(7, "shape.dtype");
    FAIL() << "dtype 7 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), KVC_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("shape.dtype 7"), std::string::npos) << e.what();
  }
  EXPECT_THROW(dtype_from_c(KVC_DTYPE_AS_STORED, "dtype"), Error);
}

TEST(DType, F16ToF32GivesTheExactValueOfAll65536Patterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = f16_to_f32(static_cast<uint16_t>(h));
    if (is_half_nan(static_cast<uint16_t>(h))) {
      ASSERT_TRUE(std::isnan(f)) << std::hex << h;
      // Sign and the 10-bit payload are kept; a signalling NaN comes back quiet, as F16C's
      // vcvtph2ps gives it.
      ASSERT_EQ(float_bits(f),
                ((h & 0x8000u) << 16) | 0x7F800000u | 0x400000u | ((h & 0x3FFu) << 13))
          << std::hex << h;
      continue;
    }
    const auto expected = static_cast<float>(kvc_test::ref_half_value(static_cast<uint16_t>(h)));
    ASSERT_EQ(float_bits(f), float_bits(expected)) << std::hex << h;  // -0 keeps its sign
  }
}

TEST(DType, F16ThroughF32AndBackIsTheIdentityForAll65536Patterns) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const auto in = static_cast<uint16_t>(h);
    const uint16_t out = f32_to_f16(f16_to_f32(in));
    if (is_half_nan(in) && (in & 0x200) == 0) {
      // A signalling NaN comes back quiet: same sign, same lower 9 payload bits.
      ASSERT_TRUE(is_half_nan(out)) << std::hex << h;
      ASSERT_EQ(out, in | 0x200) << std::hex << h;
      continue;
    }
    ASSERT_EQ(out, in) << std::hex << h;
  }
}

TEST(DType, Bf16ToF32GivesTheExactValueOfAll65536Patterns) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const float f = bf16_to_f32(static_cast<uint16_t>(b));
    ASSERT_EQ(float_bits(f), b << 16) << std::hex << b;  // payloads and signs kept
    if (!is_bf16_nan(static_cast<uint16_t>(b))) {
      ASSERT_EQ(static_cast<double>(f), kvc_test::ref_bf16_value(static_cast<uint16_t>(b)))
          << std::hex << b;
    }
  }
}

TEST(DType, Bf16ThroughF32AndBackIsTheIdentityForAll65536Patterns) {
  for (uint32_t b = 0; b < 65536; ++b) {
    const auto in = static_cast<uint16_t>(b);
    const uint16_t out = f32_to_bf16(bf16_to_f32(in));
    if (is_bf16_nan(in) && (in & 0x40) == 0) {
      ASSERT_EQ(out, in | 0x40) << std::hex << b;  // signalling NaN comes back quiet
      continue;
    }
    ASSERT_EQ(out, in) << std::hex << b;
  }
}

TEST(DType, F32ToF16RoundsToNearestEvenLikeTheSlowReference) {
  const std::vector<float> probes =
      rounding_probes(kvc_test::ref_half_value, 0x7BFF, 65536.0, -30, 17);
  for (float f : probes) {
    ASSERT_EQ(f32_to_f16(f), kvc_test::ref_f32_to_f16(f)) << std::hexfloat << f;
  }
  // Every midpoint between neighbouring finite halves goes to the one with an even mantissa.
  for (uint32_t c = 0; c < 0x7BFF; ++c) {
    const auto tie = static_cast<float>((kvc_test::ref_half_value(static_cast<uint16_t>(c)) +
                                         kvc_test::ref_half_value(static_cast<uint16_t>(c + 1))) /
                                        2);
    const uint16_t even = static_cast<uint16_t>((c & 1u) ? c + 1 : c);
    ASSERT_EQ(f32_to_f16(tie), even) << std::hex << c;
    ASSERT_EQ(f32_to_f16(-tie), even | 0x8000) << std::hex << c;
  }
  EXPECT_EQ(f32_to_f16(65519.996f), 0x7BFF);
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7C00);  // the tie above 65504 goes to the even: infinity
  EXPECT_EQ(f32_to_f16(-1e6f), 0xFC00);
  EXPECT_EQ(f32_to_f16(0x1p-25f), 0x0000);    // tie between 0 and the smallest subnormal
  EXPECT_EQ(f32_to_f16(0x1.8p-24f), 0x0002);  // tie between subnormals 1 and 2
  EXPECT_EQ(f32_to_f16(-FLT_TRUE_MIN), 0x8000);
}

TEST(DType, F32ToBf16RoundsToNearestEvenLikeTheSlowReference) {
  const std::vector<float> probes =
      rounding_probes(kvc_test::ref_bf16_value, 0x7F7F, std::ldexp(1.0, 128), -140, 127);
  for (float f : probes) {
    ASSERT_EQ(f32_to_bf16(f), kvc_test::ref_f32_to_bf16(f)) << std::hexfloat << f;
  }
  EXPECT_EQ(f32_to_bf16(FLT_MAX), 0x7F80);      // above the largest bf16 by more than half a step
  EXPECT_EQ(f32_to_bf16(1.00390625f), 0x3F80);  // tie: 1 + 2^-8 rounds to the even 1
  EXPECT_EQ(f32_to_bf16(FLT_TRUE_MIN), 0x0000);
}

TEST(DType, NaNStaysNaNWithItsSignAndHighPayloadBits) {
  std::mt19937 rng(7);
  for (int i = 0; i < 100000; ++i) {
    const uint32_t u = (static_cast<uint32_t>(rng()) | 0x7F800000u) & ~(i % 2 ? 0u : 0x80000000u);
    if ((u & 0x7FFFFFu) == 0) continue;
    const float f = bits_float(u);
    const uint16_t h = f32_to_f16(f);
    ASSERT_TRUE(is_half_nan(h)) << std::hex << u;
    ASSERT_EQ(h & 0x8000u, (u >> 16) & 0x8000u);
    ASSERT_EQ(h & 0x1FFu, (u >> 13) & 0x1FFu) << std::hex << u;  // payload below the quiet bit
    const uint16_t b = f32_to_bf16(f);
    ASSERT_TRUE(is_bf16_nan(b)) << std::hex << u;
    ASSERT_EQ(b & 0xFFBFu, (u >> 16) & 0xFFBFu) << std::hex << u;
  }
}

TEST(DType, LoadAndStoreUseTheSameConversions) {
  unsigned char buffer[8] = {};
  for (DType t : {DType::F32, DType::F16, DType::BF16}) {
    store_from_f32(buffer, t, 1, 0.1f);
    const float back = load_as_f32(buffer, t, 1);
    const float expected = t == DType::F32   ? 0.1f
                           : t == DType::F16 ? f16_to_f32(f32_to_f16(0.1f))
                                             : bf16_to_f32(f32_to_bf16(0.1f));
    EXPECT_EQ(float_bits(back), float_bits(expected)) << dtype_name(t);
  }
}

}  // namespace
}  // namespace kvc
