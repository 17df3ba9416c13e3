// test_data.h: test helpers in plain C++: data paths, reference fp16/bf16 rounding, caches.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace kvc_test {

// Element types, numbered as KVC_DTYPE_* (kept here so that this header needs no library header).
constexpr int kF32 = 0;
constexpr int kF16 = 1;
constexpr int kBF16 = 2;

inline size_t element_bytes(int dtype) { return dtype == kF32 ? 4 : 2; }

// A file of the build's data directory (build-tests/data), where the example caches are copied.
inline std::string data_path(const std::string& name) {
  return std::string(KVC_TEST_DATA_DIR) + "/" + name;
}

inline bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float bits_float(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// ---- Slow reference conversions, written from the IEEE definitions ------------------------

// Value of an IEEE binary16 bit pattern, by arithmetic (NaN for every NaN pattern).
inline double ref_half_value(uint16_t h) {
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  double v;
  if (exponent == 0x1F) {
    v = mantissa ? std::numeric_limits<double>::quiet_NaN()
                 : std::numeric_limits<double>::infinity();
  } else if (exponent == 0) {
    v = std::ldexp(mantissa, -24);
  } else {
    v = std::ldexp(1024 + mantissa, exponent - 25);
  }
  return (h & 0x8000) ? -v : v;
}

// Value of a bfloat16 bit pattern, by arithmetic.
inline double ref_bf16_value(uint16_t b) {
  const int exponent = (b >> 7) & 0xFF;
  const int mantissa = b & 0x7F;
  double v;
  if (exponent == 0xFF) {
    v = mantissa ? std::numeric_limits<double>::quiet_NaN()
                 : std::numeric_limits<double>::infinity();
  } else if (exponent == 0) {
    v = std::ldexp(mantissa, -133);
  } else {
    v = std::ldexp(128 + mantissa, exponent - 134);
  }
  return (b & 0x8000) ? -v : v;
}

// Rounds a >= 0 to the nearest non-negative code of a 16-bit format, ties to even, by binary
// search over its (increasing) finite codes. The code after max_finite is infinity, and counts
// as overflow_value (the next power of two) when rounding, as IEEE 754 prescribes.
template <class ValueOf>
uint16_t ref_round_magnitude(double a, uint16_t max_finite, double overflow_value,
                             ValueOf value_of) {
  if (a >= overflow_value) return static_cast<uint16_t>(max_finite + 1);
  uint32_t lo = 0, hi = max_finite;  // largest code with value <= a lies in [lo, hi]
  while (lo < hi) {
    const uint32_t mid = (lo + hi + 1) / 2;
    if (value_of(static_cast<uint16_t>(mid)) <= a) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  const double below = value_of(static_cast<uint16_t>(lo));
  const double above = lo == max_finite ? overflow_value : value_of(static_cast<uint16_t>(lo + 1));
  const double to_below = a - below, to_above = above - a;  // exact: the values are close
  if (to_below < to_above) return static_cast<uint16_t>(lo);
  if (to_above < to_below) return static_cast<uint16_t>(lo + 1);
  return static_cast<uint16_t>((lo & 1u) ? lo + 1 : lo);
}

// float -> binary16, round to nearest even; NaN gives the quiet NaN of its sign.
inline uint16_t ref_f32_to_f16(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7E00);
  const uint16_t magnitude =
      ref_round_magnitude(std::fabs(static_cast<double>(f)), 0x7BFF, 65536.0, ref_half_value);
  return static_cast<uint16_t>(sign | magnitude);
}

// float -> bfloat16, round to nearest even; NaN gives the quiet NaN of its sign.
inline uint16_t ref_f32_to_bf16(float f) {
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (std::isnan(f)) return static_cast<uint16_t>(sign | 0x7FC0);
  const uint16_t magnitude = ref_round_magnitude(std::fabs(static_cast<double>(f)), 0x7F7F,
                                                 std::ldexp(1.0, 128), ref_bf16_value);
  return static_cast<uint16_t>(sign | magnitude);
}

// Encodes floats as packed elements of dtype, by the reference rounding.
inline std::vector<unsigned char> encode(const std::vector<float>& x, int dtype) {
  std::vector<unsigned char> out(x.size() * element_bytes(dtype));
  for (size_t i = 0; i < x.size(); ++i) {
    if (dtype == kF32) {
      std::memcpy(out.data() + 4 * i, &x[i], 4);
    } else {
      const uint16_t h = dtype == kF16 ? ref_f32_to_f16(x[i]) : ref_f32_to_bf16(x[i]);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
  return out;
}

// Element i of packed elements of dtype, as a double (exact).
inline double element_value(const void* data, int dtype, size_t i) {
  const auto* p = static_cast<const unsigned char*>(data);
  if (dtype == kF32) {
    float f;
    std::memcpy(&f, p + 4 * i, 4);
    return f;
  }
  uint16_t h;
  std::memcpy(&h, p + 2 * i, 2);
  return dtype == kF16 ? ref_half_value(h) : ref_bf16_value(h);
}

inline std::vector<double> decode(const std::vector<unsigned char>& bytes, int dtype) {
  std::vector<double> out(bytes.size() / element_bytes(dtype));
  for (size_t i = 0; i < out.size(); ++i) out[i] = element_value(bytes.data(), dtype, i);
  return out;
}

// ---- Seeded random caches -------------------------------------------------------------------

// A cache of floats, packed [layer][head][token][dim] for keys and for values.
struct FloatCache {
  uint32_t layers = 0, heads = 0, tokens = 0, head_dim = 0;
  std::vector<float> keys, values;

  size_t elements_per_tensor() const { return size_t{layers} * heads * tokens * head_dim; }
};

// Gaussian keys with a per-channel offset and scale (as real keys have) and `outlier_channels`
// channels per head `outlier_scale` times larger; Gaussian values. Same seed, same cache.
inline FloatCache make_gaussian_cache(uint32_t layers, uint32_t heads, uint32_t tokens,
                                      uint32_t head_dim, uint32_t seed,
                                      uint32_t outlier_channels = 2, float outlier_scale = 25.0f) {
  FloatCache c;
  c.layers = layers;
  c.heads = heads;
  c.tokens = tokens;
  c.head_dim = head_dim;
  c.keys.resize(c.elements_per_tensor());
  c.values.resize(c.elements_per_tensor());
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> uniform(0.25f, 2.0f);
  std::vector<float> offset(head_dim), scale(head_dim);
  size_t i = 0;
  for (uint32_t l = 0; l < layers; ++l) {
    for (uint32_t h = 0; h < heads; ++h) {
      for (uint32_t d = 0; d < head_dim; ++d) {
        offset[d] = normal(rng);
        scale[d] = uniform(rng);
      }
      for (uint32_t k = 0; k < std::min(outlier_channels, head_dim); ++k) {
        scale[(k * 7 + l + h) % head_dim] *= outlier_scale;
      }
      for (uint32_t t = 0; t < tokens; ++t) {
        for (uint32_t d = 0; d < head_dim; ++d, ++i) {
          c.keys[i] = offset[d] + scale[d] * normal(rng);
          c.values[i] = normal(rng);
        }
      }
    }
  }
  return c;
}

}  // namespace kvc_test
