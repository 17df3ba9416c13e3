// property_test.cpp: random shapes, dtypes, bits, group sizes and recent windows, with special
// values: lossless is bit-exact (NaN, Inf, -0 included), lossy stays within the documented
// per-group bound, and the same input gives the same bytes every time.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "codecs/cache_codec.h"
#include "core/error.h"
#include "unit/codec_helpers.h"
#include "unit/quant_check.h"
#include "unit/test_data.h"

namespace kvc {
namespace {

using test::PackedCache;

constexpr int kCases = 120;

// Makes a cache with the special values a lossy stage must handle: all-equal groups, values
// near zero (subnormal in float16/bfloat16/float32), -0 and tiny groups.
kvc_test::FloatCache special_cache(std::mt19937& rng, uint32_t layers, uint32_t heads,
                                   uint32_t tokens, uint32_t dim, DType dtype) {
  kvc_test::FloatCache f = kvc_test::make_gaussian_cache(layers, heads, tokens, dim, rng());
  const float tiny = dtype == DType::F16 ? 3e-6f : 2e-39f;  // subnormal in the stored dtype
  for (std::vector<float>* t : {&f.keys, &f.values}) {
    for (size_t row = 0; row * dim < t->size(); ++row) {
      float* r = t->data() + row * dim;
      switch (rng() % 8) {
        case 0:  // an all-equal row (and so all-equal value groups)
          for (uint32_t c = 0; c < dim; ++c) r[c] = r[0];
          break;
        case 1:  // subnormal magnitudes
          for (uint32_t c = 0; c < dim; ++c) r[c] *= tiny;
          break;
        case 2:  // zeros of both signs
          for (uint32_t c = 0; c < dim; ++c) r[c] = (c % 2) ? -0.0f : 0.0f;
          break;
        default:
          break;
      }
    }
    // An all-equal channel over every token (all-equal key groups).
    for (size_t i = 0; i < t->size(); i += dim) (*t)[i + dim / 2] = 1.5f;
  }
  return f;
}

// Overwrites random elements with NaN, +-Inf, -0 and random bit patterns (lossless inputs).
void add_non_finite(std::mt19937& rng, std::vector<unsigned char>& bytes, DType dtype) {
  const size_t elem = dtype_size(dtype), n = bytes.size() / elem;
  const uint32_t f32[] = {0x7FC00001u, 0xFF800000u, 0x7F800000u, 0x80000000u, 0x00000001u};
  const uint16_t f16[] = {0x7E01, 0xFC00, 0x7C00, 0x8000, 0x0001};
  const uint16_t bf16[] = {0x7FC1, 0xFF80, 0x7F80, 0x8000, 0x0001};
  for (size_t k = 0; k < n / 8 + 1; ++k) {
    unsigned char* p = bytes.data() + (rng() % n) * elem;
    const uint32_t pick = rng() % 6;
    if (pick == 5) {
      const uint32_t r = rng();
      std::memcpy(p, &r, elem);
    } else if (dtype == DType::F32) {
      std::memcpy(p, &f32[pick], 4);
    } else {
      std::memcpy(p, dtype == DType::F16 ? &f16[pick] : &bf16[pick], 2);
    }
  }
}

TEST(Property, RandomCachesAreExactOrWithinBoundAndDeterministic) {
  std::mt19937 rng(7);
  const int bit_choices[] = {2, 3, 4, 8, 16};
  const uint32_t dims[] = {8, 16, 24, 40, 64, 96, 128, 160};
  const DType dtypes[] = {DType::F32, DType::F16, DType::BF16};
  int lossless = 0, lossy = 0;
  uint64_t checked = 0;
  for (int i = 0; i < kCases; ++i) {
    const uint32_t layers = 1 + rng() % 2, heads = 1 + rng() % 3, tokens = 1 + rng() % 150;
    const uint32_t dim = dims[rng() % 8];
    const DType dtype = dtypes[rng() % 3];
    CompressSettings s;
    s.key_bits = bit_choices[rng() % 5];
    s.value_bits = bit_choices[rng() % 5];
    s.group_size = 32u << (rng() % 3);
    s.recent_tokens = rng() % 3 == 0 ? 0 : rng() % (tokens + 6);
    s.zstd_level = static_cast<int>(rng() % 4);
    s.shuffle = static_cast<ShuffleMode>(rng() % 3);
    const std::string what =
        "case " + std::to_string(i) + ": " + std::to_string(layers) + "x" + std::to_string(heads) +
        "x" + std::to_string(tokens) + "x" + std::to_string(dim) + " dtype " +
        std::to_string(int(dtype)) + " bits " + std::to_string(s.key_bits) + "/" +
        std::to_string(s.value_bits) + " group " + std::to_string(s.group_size) + " recent " +
        std::to_string(s.recent_tokens) + " zstd " + std::to_string(s.zstd_level);
    SCOPED_TRACE(what);
    PackedCache cache = test::pack(special_cache(rng, layers, heads, tokens, dim, dtype), dtype);
    const bool all_lossless = s.key_bits == 16 && s.value_bits == 16;
    if (all_lossless) {
      add_non_finite(rng, cache.keys, dtype);
      add_non_finite(rng, cache.values, dtype);
    }
    std::vector<unsigned char> blob;
    try {
      blob = test::compress(cache, s);
    } catch (const Error& e) {
      FAIL() << "compress refused: " << e.what();
    }
    // Deterministic: a fresh codec and a reused one give the same bytes.
    CacheCodec reused(cpu_backend());
    (void)test::compress(test::pack(kvc_test::make_gaussian_cache(1, 1, 9, 8, 1), DType::F32),
                         CompressSettings{}, &reused);
    ASSERT_EQ(test::compress(cache, s, &reused), blob);
    ASSERT_EQ(test::compress(cache, s), blob);

    const PackedCache back = test::decompress(blob);
    for (const bool keys : {true, false}) {
      const int bits = keys ? s.key_bits : s.value_bits;
      const auto& orig = keys ? cache.keys : cache.values;
      const auto& got = keys ? back.keys : back.values;
      if (bits == 16) {
        ++lossless;
        ASSERT_EQ(got, orig) << (keys ? "keys" : "values") << " are not bit-exact";
      } else {
        ++lossy;
        const test::Figures f =
            test::check_tensor(cache, back, keys, bits, s.group_size, s.recent_tokens);
        checked += f.checked;
        ASSERT_EQ(f.violations, 0u) << f.first_violation;
        ASSERT_EQ(f.recent_mismatches, 0u);
      }
    }
  }
  std::printf("[ property ] %d cases: %d lossless and %d lossy tensors, %llu elements bounded\n",
              kCases, lossless, lossy, static_cast<unsigned long long>(checked));
}

}  // namespace
}  // namespace kvc
