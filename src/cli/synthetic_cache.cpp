// synthetic_cache.cpp: a reproducible KV cache and queries for `kvc bench` when no cache file is
// given: a fixed-seed generator, keys with per-channel outliers and offsets as real keys have.
#include <cmath>
#include <cstring>

#include "cli.h"

namespace kvc::cli {
namespace {

// SplitMix64: the same numbers on every platform and compiler (unlike <random>'s distributions).
class Generator {
 public:
  explicit Generator(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {                                                           // Box-Muller
    const double u = 1.0 - uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * uniform());
  }

 private:
  uint64_t state_;
};

uint16_t to_f16(float f) {
  uint32_t x = 0;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int exponent = static_cast<int>((x >> 23) & 0xFF) - 127 + 15;
  uint32_t mantissa = x & 0x7FFFFFu;
  if (exponent >= 31) return static_cast<uint16_t>(sign | 0x7C00u);  // overflow: infinity
  if (exponent <= 0) {                                               // subnormal or zero
    if (exponent < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - exponent;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(exponent) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent
  return static_cast<uint16_t>(sign | half);
}

uint16_t to_bf16(float f) {
  uint32_t x = 0;
  std::memcpy(&x, &f, 4);
  x += 0x7FFFu + ((x >> 16) & 1u);  // round to nearest even (inputs here are finite)
  return static_cast<uint16_t>(x >> 16);
}

void store(unsigned char* out, size_t index, kvc_dtype dtype, float value) {
  if (dtype == KVC_DTYPE_F32) {
    std::memcpy(out + index * 4, &value, 4);
    return;
  }
  const uint16_t bits = dtype == KVC_DTYPE_BF16 ? to_bf16(value) : to_f16(value);
  std::memcpy(out + index * 2, &bits, 2);
}

// Per layer and head: a channel scale (1 for most channels, 4..10 for about 1 in 16: the outlier
// channels of real keys) and a channel offset.
struct ChannelProfile {
  std::vector<float> scale, offset;
};

ChannelProfile key_profile(Generator& g, uint32_t head_dim) {
  ChannelProfile p;
  p.scale.resize(head_dim);
  p.offset.resize(head_dim);
  for (uint32_t d = 0; d < head_dim; ++d) {
    const bool is_outlier = g.uniform() < 1.0 / 16.0;
    p.scale[d] = static_cast<float>(is_outlier ? 4.0 + 6.0 * g.uniform() : 1.0);
    p.offset[d] = static_cast<float>(0.5 * g.normal() * p.scale[d]);
  }
  return p;
}

}  // namespace

SyntheticCache synthesize_cache(const kvc_cache_shape& shape, uint32_t num_query_heads,
                                uint32_t num_queries, uint64_t seed) {
  SyntheticCache c;
  c.shape = shape;
  const size_t elements =
      size_t{shape.num_layers} * shape.num_kv_heads * shape.num_tokens * shape.head_dim;
  const size_t element_bytes = dtype_bytes(shape.dtype);
  c.keys.resize(elements * element_bytes);
  c.values.resize(elements * element_bytes);
  Generator g(seed);
  std::vector<float> query_scale(shape.head_dim, 1.0f);
  size_t i = 0;
  for (uint32_t l = 0; l < shape.num_layers; ++l) {
    for (uint32_t h = 0; h < shape.num_kv_heads; ++h) {
      const ChannelProfile p = key_profile(g, shape.head_dim);
      if (l == 0 && h == 0) query_scale = p.scale;
      for (uint32_t t = 0; t < shape.num_tokens; ++t) {
        for (uint32_t d = 0; d < shape.head_dim; ++d, ++i) {
          store(c.keys.data(), i, shape.dtype,
                p.offset[d] + p.scale[d] * static_cast<float>(g.normal()));
          store(c.values.data(), i, shape.dtype, static_cast<float>(g.normal()));
        }
      }
    }
  }
  if (num_queries > 0) {
    // Queries lean on the same outlier channels, so attention concentrates as it does in models.
    kvc_query_shape_default(&c.query_shape, sizeof c.query_shape);
    c.query_shape.num_query_heads = num_query_heads;
    c.query_shape.num_queries = num_queries;
    c.query_shape.head_dim = shape.head_dim;
    c.query_shape.dtype = KVC_DTYPE_F32;
    c.query_shape.per_layer = 0;
    c.queries.resize(size_t{num_query_heads} * num_queries * shape.head_dim);
    size_t q = 0;
    for (uint32_t h = 0; h < num_query_heads; ++h) {
      for (uint32_t n = 0; n < num_queries; ++n) {
        for (uint32_t d = 0; d < shape.head_dim; ++d) {
          c.queries[q++] = query_scale[d] * static_cast<float>(g.normal());
        }
      }
    }
  }
  return c;
}

}  // namespace kvc::cli
