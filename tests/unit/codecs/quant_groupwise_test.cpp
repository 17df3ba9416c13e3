// quant_groupwise_test.cpp: group quantization error bounds, recent window, lossless mode, inputs.
#include "codecs/quant_groupwise.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "codecs/cache_codec.h"
#include "core/dtype.h"
#include "core/error.h"
#include "format/reader.h"
#include "unit/codec_helpers.h"
#include "unit/quant_check.h"
#include "unit/test_data.h"

namespace kvc {
namespace {

using test::check_tensor;
using test::Figures;
using test::PackedCache;

// Set KVC_TEST_PRINT_FIGURES=1 to print the measured error figures the floors come from.
bool print_figures() { return std::getenv("KVC_TEST_PRINT_FIGURES") != nullptr; }

CompressSettings lossy(int bits, uint32_t group, uint32_t recent = 0) {
  CompressSettings s;
  s.key_bits = bits;
  s.value_bits = bits;
  s.group_size = group;
  s.recent_tokens = recent;
  return s;
}

format::ChunkRecord chunk_of(const std::vector<unsigned char>& blob, uint32_t layer, bool key) {
  const format::BlobReader reader(blob.data(), blob.size());
  return reader.read_chunk(
      reader.chunk_index(layer, key ? format::TensorKind::Key : format::TensorKind::Value));
}

// Global cosine floors on the Gaussian caches with outlier channels (2 of 96 channels 25x
// wider), keys and values alike: the lowest measured over fp16/bf16/fp32 and groups 32/64/128
// (2-bit 0.902, 3-bit 0.9795, 4-bit 0.9954, 8-bit 0.999983), rounded down.
const std::map<int, double> kGaussianCosineFloor = {
    {2, 0.89}, {3, 0.975}, {4, 0.994}, {8, 0.99997}};

TEST(QuantGroupwise, EveryElementOfAGaussianCacheWithOutlierChannelsStaysWithinHalfAScale) {
  // 300 tokens leave a partial last token group for every group size; head_dim 96 leaves a
  // partial last value group of 32 at group 64 and clamps group 128 to 96.
  const kvc_test::FloatCache f = kvc_test::make_gaussian_cache(2, 2, 300, 96, 42);
  for (DType dtype : {DType::F16, DType::BF16, DType::F32}) {
    const PackedCache cache = test::pack(f, dtype);
    for (int bits : {2, 3, 4, 8}) {
      for (uint32_t group : {32u, 64u, 128u}) {
        const std::vector<unsigned char> blob = test::compress(cache, lossy(bits, group));
        const PackedCache back = test::decompress(blob);
        const std::string where = std::string(dtype_name(dtype)) + " bits " + std::to_string(bits) +
                                  " group " + std::to_string(group);
        for (bool keys : {true, false}) {
          const Figures fig = check_tensor(cache, back, keys, bits, group, 0);
          EXPECT_EQ(fig.checked, cache.keys.size() / dtype_size(dtype)) << where;
          EXPECT_EQ(fig.violations, 0u) << where << ": " << fig.first_violation;
          EXPECT_GE(fig.cosine, kGaussianCosineFloor.at(bits))
              << where << (keys ? " keys" : " values");
          if (print_figures()) {
            std::printf(
                "gaussian %-8s %s bits %d group %3u: cosine %.6f snr %.2f dB, max "
                "error %.4f x scale/2\n",
                dtype_name(dtype), keys ? "keys  " : "values", bits, group, fig.cosine, fig.snr_db,
                fig.worst_over_half_scale);
          }
        }
      }
    }
  }
}

// Global cosine floors on SmolLM2-135M's real cache (30 layers, 3 kv heads, 1024 tokens, head_dim
// 64, fp16): the lowest measured over groups 32/64/128 (group 128 for all but 8-bit keys),
// rounded down. Measured keys: 2-bit 0.9661, 3-bit 0.9936, 4-bit 0.99860, 8-bit 0.999995;
// values: 0.9028, 0.9795, 0.99542, 0.999984.
const std::map<int, double> kSmolKeyCosineFloor = {{2, 0.96}, {3, 0.99}, {4, 0.998}, {8, 0.99999}};
const std::map<int, double> kSmolValueCosineFloor = {
    {2, 0.89}, {3, 0.975}, {4, 0.995}, {8, 0.99998}};

TEST(QuantGroupwise, EveryElementOfTheSmolLM2CacheStaysWithinHalfAScale) {
  const std::optional<PackedCache> cache = test::load_real_cache("smollm2-135m.safetensors");
  if (!cache) GTEST_SKIP() << test::missing_cache_reason("smollm2-135m.safetensors");
  ASSERT_EQ(cache->dims.head_dim, 64u);
  for (int bits : {2, 3, 4, 8}) {
    for (uint32_t group : {32u, 64u, 128u}) {
      const std::vector<unsigned char> blob = test::compress(*cache, lossy(bits, group));
      const PackedCache back = test::decompress(blob);
      const std::string where = "bits " + std::to_string(bits) + " group " + std::to_string(group);
      for (bool keys : {true, false}) {
        const Figures fig = check_tensor(*cache, back, keys, bits, group, 0);
        EXPECT_EQ(fig.violations, 0u) << where << ": " << fig.first_violation;
        const double floor = (keys ? kSmolKeyCosineFloor : kSmolValueCosineFloor).at(bits);
        EXPECT_GE(fig.cosine, floor) << where << (keys ? " keys" : " values");
        if (print_figures()) {
          std::printf(
              "smollm2 %s bits %d group %3u: cosine %.6f snr %.2f dB, max error %.4f x "
              "scale/2, %.3f bits/element\n",
              keys ? "keys  " : "values", bits, group, fig.cosine, fig.snr_db,
              fig.worst_over_half_scale,
              8.0 * static_cast<double>(blob.size()) /
                  static_cast<double>(cache->keys.size() + cache->values.size()) * 2);
        }
      }
    }
  }
}

TEST(QuantGroupwise, ValueGroupsAreClampedToAHeadDimOfEight) {
  const std::optional<PackedCache> cache = test::load_real_cache("stories260K.safetensors");
  if (!cache) GTEST_SKIP() << test::missing_cache_reason("stories260K.safetensors");
  ASSERT_EQ(cache->dims.head_dim, 8u);
  for (int bits : {2, 3, 4, 8}) {
    for (uint32_t group : {32u, 64u, 128u}) {
      const std::vector<unsigned char> blob = test::compress(*cache, lossy(bits, group));
      const std::string where = "bits " + std::to_string(bits) + " group " + std::to_string(group);
      for (uint32_t layer = 0; layer < cache->dims.num_layers; ++layer) {
        EXPECT_EQ(chunk_of(blob, layer, false).encoding.group_size, 8u) << where;
        EXPECT_EQ(chunk_of(blob, layer, true).encoding.group_size, group) << where;
      }
      const PackedCache back = test::decompress(blob);
      for (bool keys : {true, false}) {
        const Figures fig = check_tensor(*cache, back, keys, bits, group, 0);
        EXPECT_EQ(fig.violations, 0u) << where << ": " << fig.first_violation;
        if (print_figures()) {
          std::printf(
              "stories260K %s bits %d group %3u: cosine %.6f snr %.2f dB, max error "
              "%.4f x scale/2\n",
              keys ? "keys  " : "values", bits, group, fig.cosine, fig.snr_db,
              fig.worst_over_half_scale);
        }
      }
    }
  }
}

TEST(QuantGroupwise, TheNewestRecentTokensComeBackBitExact) {
  const kvc_test::FloatCache f = kvc_test::make_gaussian_cache(2, 3, 150, 40, 9);
  for (DType dtype : {DType::F16, DType::BF16, DType::F32}) {
    const PackedCache cache = test::pack(f, dtype);
    for (uint32_t recent : {1u, 37u, 128u, 149u}) {
      const std::vector<unsigned char> blob = test::compress(cache, lossy(3, 64, recent));
      EXPECT_EQ(chunk_of(blob, 1, true).encoding.quantized_tokens, 150 - recent);
      const PackedCache back = test::decompress(blob);
      for (bool keys : {true, false}) {
        const Figures fig = check_tensor(cache, back, keys, 3, 64, recent);
        EXPECT_EQ(fig.recent_mismatches, 0u) << dtype_name(dtype) << " recent " << recent;
        EXPECT_EQ(fig.violations, 0u) << fig.first_violation;
      }
      // Into another dtype, the recent rows are the exact conversion.
      const PackedCache wide = test::decompress(blob, KVC_DTYPE_F32);
      EXPECT_EQ(check_tensor(cache, wide, true, 3, 64, recent).recent_mismatches, 0u);
    }
  }
}

TEST(QuantGroupwise, RecentTokensCoveringTheCacheMakeEverythingExact) {
  const kvc_test::FloatCache f = kvc_test::make_gaussian_cache(2, 2, 50, 16, 10);
  for (DType dtype : {DType::F16, DType::BF16, DType::F32}) {
    const PackedCache cache = test::pack(f, dtype);
    for (uint32_t recent : {50u, 51u, 100000u}) {
      const std::vector<unsigned char> blob = test::compress(cache, lossy(2, 32, recent));
      EXPECT_EQ(chunk_of(blob, 0, false).encoding.quantized_tokens, 0u);
      const PackedCache back = test::decompress(blob);
      EXPECT_EQ(back.keys, cache.keys) << dtype_name(dtype) << " recent " << recent;
      EXPECT_EQ(back.values, cache.values) << dtype_name(dtype) << " recent " << recent;
    }
  }
}

TEST(QuantGroupwise, APartialLastTokenGroupUsesOnlyItsOwnRange) {
  // 70 tokens, groups of 64: the last 6 tokens form their own group. They sit 1000 above the
  // rest, so a scale computed over the wrong rows would break the bound of both groups.
  kvc_test::FloatCache f = kvc_test::make_gaussian_cache(1, 2, 70, 32, 12, 0);
  for (uint32_t h = 0; h < 2; ++h) {
    for (uint32_t t = 64; t < 70; ++t) {
      for (uint32_t d = 0; d < 32; ++d) f.keys[(size_t{h} * 70 + t) * 32 + d] += 1000.0f;
    }
  }
  const PackedCache cache = test::pack(f, DType::F32);
  for (int bits : {2, 8}) {
    const std::vector<unsigned char> blob = test::compress(cache, lossy(bits, 64));
    const PackedCache back = test::decompress(blob);
    const Figures fig = check_tensor(cache, back, true, bits, 64, 0);
    EXPECT_EQ(fig.violations, 0u) << fig.first_violation;
    // With the window: 70 - 4 = 66 quantized tokens leave a last group of 2.
    const std::vector<unsigned char> windowed = test::compress(cache, lossy(bits, 64, 4));
    const Figures w = check_tensor(cache, test::decompress(windowed), true, bits, 64, 4);
    EXPECT_EQ(w.violations, 0u) << w.first_violation;
    EXPECT_EQ(w.recent_mismatches, 0u);
  }
}

TEST(QuantGroupwise, SameInputAndSettingsGiveTheSameBytes) {
  const PackedCache cache =
      test::pack(kvc_test::make_gaussian_cache(3, 2, 200, 64, 13), DType::F16);
  for (int bits : {2, 3, 4, 8, 16}) {
    CompressSettings s = lossy(bits, 32, 5);
    CacheCodec reused(cpu_backend());
    const std::vector<unsigned char> first = test::compress(cache, s, &reused);
    EXPECT_EQ(test::compress(cache, s, &reused), first) << bits;  // same codec, again
    EXPECT_EQ(test::compress(cache, s), first) << bits;           // a fresh codec
  }
}

// Values that a lossless store must keep bit for bit, in the format of dtype.
std::vector<unsigned char> special_values(DType dtype, size_t n) {
  std::vector<unsigned char> out(n * dtype_size(dtype));
  std::vector<uint32_t> f32 = {0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x7FBFFFFFu, 0x7F800000u,
                               0xFF800000u, 0x80000000u, 0x00000001u, 0x807FFFFFu, 0x3F800000u};
  std::vector<uint16_t> f16 = {0x7E00, 0xFE01, 0x7C01, 0x7DFF, 0x7C00,
                               0xFC00, 0x8000, 0x0001, 0x83FF, 0x3C00};
  std::vector<uint16_t> bf16 = {0x7FC0, 0xFFC1, 0x7F81, 0x7FBF, 0x7F80,
                                0xFF80, 0x8000, 0x0001, 0x807F, 0x3F80};
  std::mt19937 rng(99);
  for (size_t i = 0; i < n; ++i) {
    const size_t k = i % 16;
    if (dtype == DType::F32) {
      const uint32_t v = k < f32.size() ? f32[k] : static_cast<uint32_t>(rng());
      std::memcpy(out.data() + 4 * i, &v, 4);
    } else {
      const std::vector<uint16_t>& table = dtype == DType::F16 ? f16 : bf16;
      const uint16_t v = k < table.size() ? table[k] : static_cast<uint16_t>(rng());
      std::memcpy(out.data() + 2 * i, &v, 2);
    }
  }
  return out;
}

TEST(QuantGroupwise, SixteenBitsIsLosslessForEveryBitPatternAndEntropySetting) {
  for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
    PackedCache cache;
    cache.dims = {2, 3, 33, 24, dtype};
    const size_t n = cache.dims.num_layers * cache.dims.elements_per_tensor();
    cache.keys = special_values(dtype, n);
    cache.values = special_values(dtype, n);
    std::reverse(cache.values.begin(), cache.values.end());
    for (int level : {0, 1, 19, -7}) {
      for (ShuffleMode shuffle : {ShuffleMode::Auto, ShuffleMode::Off, ShuffleMode::On}) {
        CompressSettings s = lossy(16, 64);
        s.zstd_level = level;
        s.shuffle = shuffle;
        const std::vector<unsigned char> blob = test::compress(cache, s);
        const PackedCache back = test::decompress(blob);
        const std::string where = std::string(dtype_name(dtype)) + " zstd " +
                                  std::to_string(level) + " shuffle " +
                                  std::to_string(static_cast<int>(shuffle));
        EXPECT_EQ(back.keys, cache.keys) << where;
        EXPECT_EQ(back.values, cache.values) << where;
        const format::ChunkRecord rec = chunk_of(blob, 1, true);
        EXPECT_EQ(rec.encoding.codec, Codec::Raw);
        ASSERT_EQ(rec.encoding.sections.size(), 1u);
        if (level == 0 || shuffle == ShuffleMode::Off) {
          EXPECT_EQ(rec.encoding.sections[0].shuffle_width, 0) << where;
        }
        if (level == 0) {
          EXPECT_EQ(rec.encoding.sections[0].encoding, SectionEncoding::Stored) << where;
        }
      }
    }
  }
}

TEST(QuantGroupwise, LosslessBlobsDecodeIntoAnotherDTypeByExactConversion) {
  for (DType stored : {DType::F32, DType::F16, DType::BF16}) {
    PackedCache cache;
    cache.dims = {1, 2, 64, 32, stored};
    cache.keys = special_values(stored, cache.dims.elements_per_tensor());
    cache.values = cache.keys;
    const std::vector<unsigned char> blob = test::compress(cache, lossy(16, 32));
    for (DType out : {DType::F32, DType::F16, DType::BF16}) {
      const PackedCache back = test::decompress(blob, static_cast<int>(out));
      for (size_t i = 0; i < cache.dims.elements_per_tensor(); ++i) {
        const float x = load_as_f32(cache.keys.data(), stored, i);
        const float y = load_as_f32(back.keys.data(), out, i);
        if (std::isnan(x)) {
          ASSERT_TRUE(std::isnan(y)) << dtype_name(stored) << "->" << dtype_name(out) << " " << i;
          ASSERT_EQ(std::signbit(x), std::signbit(y));
          continue;
        }
        // Widening is exact; narrowing is the reference round to nearest even.
        float expected = x;
        if (out == DType::F16)
          expected = static_cast<float>(kvc_test::ref_half_value(kvc_test::ref_f32_to_f16(x)));
        if (out == DType::BF16)
          expected = static_cast<float>(kvc_test::ref_bf16_value(kvc_test::ref_f32_to_bf16(x)));
        ASSERT_EQ(kvc_test::float_bits(y), kvc_test::float_bits(expected))
            << dtype_name(stored) << "->" << dtype_name(out) << " element " << i;
      }
    }
  }
}

TEST(QuantGroupwise, LossyQuantizationRejectsNaNAndInfinityNamingLayerAndTensor) {
  const kvc_test::FloatCache f = kvc_test::make_gaussian_cache(3, 2, 40, 16, 14);
  for (float bad : {NAN, INFINITY, -INFINITY}) {
    for (bool keys : {true, false}) {
      kvc_test::FloatCache g = f;
      (keys ? g.keys : g.values)[2 * 2 * 40 * 16 + 555] = bad;  // layer 2
      for (DType dtype : {DType::F32, DType::F16, DType::BF16}) {
        const PackedCache cache = test::pack(g, dtype);
        try {
          test::compress(cache, lossy(4, 32));
          ADD_FAILURE() << bad << " was accepted";
        } catch (const Error& e) {
          EXPECT_EQ(e.code(), KVC_ERR_INVALID_ARGUMENT);
          const std::string expected = keys ? "layer 2 keys" : "layer 2 values";
          EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
          EXPECT_NE(std::string(e.what()).find("NaN or an infinity"), std::string::npos);
        }
        // The same tensor is fine when it is stored losslessly.
        CompressSettings s = lossy(4, 32);
        (keys ? s.key_bits : s.value_bits) = 16;
        const PackedCache back = test::decompress(test::compress(cache, s));
        EXPECT_EQ(keys ? back.keys : back.values, keys ? cache.keys : cache.values);
      }
    }
  }
}

TEST(QuantGroupwise, Float32BeyondTheHalfRangeFallsBackToFloat32SideData) {
  kvc_test::FloatCache f = kvc_test::make_gaussian_cache(2, 2, 64, 32, 15);
  for (float& x : f.keys) x *= 1e5f;  // keys of layer 0 and 1 reach several 1e5..1e6
  f.values[7] = 1e6f;                 // one value row with a 1e6 element
  f.values[8] = -3e6f;
  const PackedCache cache = test::pack(f, DType::F32);
  for (int bits : {2, 4, 8}) {
    const std::vector<unsigned char> blob = test::compress(cache, lossy(bits, 32));
    EXPECT_EQ(chunk_of(blob, 0, true).encoding.side, SideDType::F32);
    EXPECT_EQ(chunk_of(blob, 0, false).encoding.side, SideDType::F32);
    EXPECT_EQ(chunk_of(blob, 1, false).encoding.side, SideDType::F16);  // layer 1 fits fp16
    const PackedCache back = test::decompress(blob);
    for (bool keys : {true, false}) {
      const Figures fig = check_tensor(cache, back, keys, bits, 32, 0);
      EXPECT_EQ(fig.violations, 0u) << fig.first_violation;
      EXPECT_LE(fig.worst_over_half_scale, 1.001) << bits;
    }
  }
}

TEST(QuantGroupwise, EffectiveGroupSizeClampsOnlyValues) {
  TensorCodecParams p;
  p.group_size = 128;
  p.axis = GroupAxis::Channels;
  EXPECT_EQ(effective_group_size(p, 8), 8u);
  EXPECT_EQ(effective_group_size(p, 256), 128u);
  p.axis = GroupAxis::Tokens;
  EXPECT_EQ(effective_group_size(p, 8), 128u);
}

}  // namespace
}  // namespace kvc
