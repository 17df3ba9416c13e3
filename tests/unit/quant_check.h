// quant_check.h: unit-test check of lossy decoding: the documented per-group error bound, and
// a tensor checked element by element against it (recent rows bit-exact).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "unit/codec_helpers.h"
#include "unit/test_data.h"

namespace kvc::test {

// Spacing of a binary format with `mantissa_bits` at magnitude m (subnormal spacing below
// 2^min_exponent).
inline double spacing(double m, int mantissa_bits, int min_exponent) {
  const int e =
      m > 0 ? std::max(static_cast<int>(std::floor(std::log2(m))), min_exponent) : min_exponent;
  return std::ldexp(1.0, e - mantissa_bits);
}

inline double output_spacing(double m, DType t) {
  switch (t) {
    case DType::F32:
      return spacing(m, 23, -126);
    case DType::F16:
      return spacing(m, 10, -14);
    case DType::BF16:
      return spacing(m, 7, -126);
  }
  return 0;
}

// The stated bound. S = (max - min) / (2^bits - 1) of the group's original values, M the group's
// largest magnitude. The decoder computes zero + code * scale with an fp16 zero (the group
// minimum rounded to nearest: off by at most ulp16(M)/2) and an fp16 scale rounded up (at most
// 2^-10 relative, or one subnormal step, above the exact (max - zero) / levels):
//   |decoded - original| <= S/2 + 2^-10 S + ulp16(M) + ulp_out(M) + 2^-22 M
// where ulp16(M) covers the zero point's rounding (also when a value below the rounded zero is
// clamped to code 0) and the scale's subnormal step, ulp_out(M) the rounding of the result to the
// output dtype, and 2^-22 M the float arithmetic (products code * scale are exact).
inline double error_bound(double s, double m, DType out) {
  return s / 2 + std::ldexp(s, -10) + spacing(m, 10, -14) + output_spacing(m, out) +
         std::ldexp(m, -22);
}

struct Figures {
  double worst_over_half_scale = 0;  // max |error| / (S/2) where S > 0
  double cosine = 1;
  double snr_db = 0;
  uint64_t checked = 0;
  uint64_t violations = 0;
  uint64_t recent_mismatches = 0;
  std::string first_violation;
};

// Checks every element of one tensor kind (all layers) of rec against orig: quantized rows
// within error_bound() of their own group; the newest recent_tokens rows exactly equal.
inline Figures check_tensor(const PackedCache& orig_cache, const PackedCache& rec_cache, bool keys,
                            int bits, uint32_t group_size, uint32_t recent_tokens) {
  const CacheDims& d = orig_cache.dims;
  const std::vector<unsigned char>& orig_bytes = keys ? orig_cache.keys : orig_cache.values;
  const std::vector<unsigned char>& rec_bytes = keys ? rec_cache.keys : rec_cache.values;
  const DType out = rec_cache.dims.dtype;
  const uint64_t n = uint64_t{d.num_layers} * d.elements_per_tensor();
  std::vector<float> a(n), b(n);
  for (uint64_t i = 0; i < n; ++i) {
    a[i] = load_as_f32(orig_bytes.data(), d.dtype, i);
    b[i] = load_as_f32(rec_bytes.data(), out, i);
  }
  const double levels = (1u << bits) - 1;
  const uint32_t tokens = d.num_tokens, dim = d.head_dim;
  const uint32_t quantized = tokens - std::min(recent_tokens, tokens);
  const uint32_t group = keys ? group_size : std::min(group_size, dim);
  Figures f;
  double dot = 0, aa = 0, bb = 0, err2 = 0;
  for (uint64_t i = 0; i < n; ++i) {
    dot += double{a[i]} * b[i];
    aa += double{a[i]} * a[i];
    bb += double{b[i]} * b[i];
    err2 += (double{a[i]} - b[i]) * (double{a[i]} - b[i]);
  }
  f.cosine = dot / std::sqrt(aa * bb);
  f.snr_db = 10 * std::log10(aa / err2);
  // Checks the elements at index(0..count-1) as one group.
  auto check_group = [&](uint64_t count, auto index, const char* where) {
    double lo = INFINITY, hi = -INFINITY;
    for (uint64_t k = 0; k < count; ++k) {
      lo = std::min(lo, double{a[index(k)]});
      hi = std::max(hi, double{a[index(k)]});
    }
    const double s = (hi - lo) / levels;
    const double bound = error_bound(s, std::max(std::fabs(lo), std::fabs(hi)), out);
    for (uint64_t k = 0; k < count; ++k) {
      const uint64_t i = index(k);
      const double e = std::fabs(double{b[i]} - a[i]);
      ++f.checked;
      if (s > 0) f.worst_over_half_scale = std::max(f.worst_over_half_scale, e / (s / 2));
      if (!(e <= bound)) {
        if (f.violations++ == 0) {
          char text[256];
          std::snprintf(text, sizeof text,
                        "%s element %llu: original %.9g decoded %.9g error %.3g > bound %.3g "
                        "(group min %.9g max %.9g)",
                        where, static_cast<unsigned long long>(i), a[i], b[i], e, bound, lo, hi);
          f.first_violation = text;
        }
      }
    }
  };
  for (uint32_t l = 0; l < d.num_layers; ++l) {
    for (uint32_t h = 0; h < d.num_kv_heads; ++h) {
      const uint64_t base = (uint64_t{l} * d.num_kv_heads + h) * tokens * dim;
      if (keys) {
        for (uint32_t t0 = 0; t0 < quantized; t0 += group) {
          const uint32_t rows = std::min(group, quantized - t0);
          for (uint32_t c = 0; c < dim; ++c) {
            check_group(
                rows, [&](uint64_t k) { return base + (t0 + k) * dim + c; }, "keys");
          }
        }
      } else {
        for (uint32_t t = 0; t < quantized; ++t) {
          for (uint32_t c0 = 0; c0 < dim; c0 += group) {
            check_group(
                std::min(group, dim - c0), [&](uint64_t k) { return base + t * dim + c0 + k; },
                "values");
          }
        }
      }
      const size_t in_elem = dtype_size(d.dtype), out_elem = dtype_size(out);
      for (uint32_t t = quantized; t < tokens; ++t) {
        const uint64_t row = base + uint64_t{t} * dim;
        if (out == d.dtype) {
          f.recent_mismatches += std::memcmp(orig_bytes.data() + row * in_elem,
                                             rec_bytes.data() + row * out_elem, dim * in_elem) != 0;
        } else {
          for (uint32_t c = 0; c < dim; ++c) {
            f.recent_mismatches +=
                kvc_test::float_bits(a[row + c]) != kvc_test::float_bits(b[row + c]);
          }
        }
      }
    }
  }
  return f;
}

}  // namespace kvc::test
