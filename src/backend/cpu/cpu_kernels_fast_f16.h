// cpu_kernels_fast_f16.h: AVX2+F16C quantize path for fp16 input and fp16 side values, bit-exact
// with quantize_tokens_axis / quantize_channels_axis (codes, scales, zeros and outcome):
//  - pass 1 reads fp16 straight from the input: min/max on order-preserving int16 keys (16 lanes
//    an instruction); infinities and NaNs show in the extreme keys; a group whose min or max is
//    a zero is redone in the reference's sequential order (+0 and -0 compare equal there);
//  - scale and zero point of 8 groups at once (vcvtps2ph, round-up by +1 on the half bits);
//  - pass 2 converts again (the block is in L1), (x - z) * inv + 0.5 truncated, packs 32 codes
//    in registers (maddubs/madd), stores them, and prefetches the next group.
// Not a normal header: cpu_kernels_impl.h includes it inside its anonymous namespace.
#ifdef KVC_HAVE_F16C

inline __m128i load_f16x8_raw(const uint16_t* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// store_side() for 8 groups at once (fp16 side): zero point = lo rounded to nearest, scale =
// max(hi - zero, 0) / levels rounded up to the next half. Returns false if one does not fit.
inline bool side_f16x8(__m256 lo, __m256 hi, __m256 levels, __m128i& zero_bits, __m128i& scale_bits,
                       __m256& zero, __m256& inverse) {
  zero_bits = _mm256_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT);
  zero = _mm256_cvtph_ps(zero_bits);
  const __m256 range = _mm256_max_ps(_mm256_setzero_ps(), _mm256_sub_ps(hi, zero));
  const __m256 scale = _mm256_div_ps(range, levels);
  __m128i bits = _mm256_cvtps_ph(scale, _MM_FROUND_TO_NEAREST_INT);
  const __m256i below =
      _mm256_castps_si256(_mm256_cmp_ps(_mm256_cvtph_ps(bits), scale, _CMP_LT_OQ));
  bits = _mm_sub_epi16(
      bits, _mm_packs_epi32(_mm256_castsi256_si128(below), _mm256_extracti128_si256(below, 1)));
  scale_bits = bits;
  const __m256 back = _mm256_cvtph_ps(bits);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
  const __m256 inf = _mm256_set1_ps(INFINITY);
  const __m256 fits = _mm256_and_ps(_mm256_cmp_ps(_mm256_and_ps(zero, abs_mask), inf, _CMP_LT_OQ),
                                    _mm256_cmp_ps(_mm256_and_ps(back, abs_mask), inf, _CMP_LT_OQ));
  inverse = _mm256_and_ps(_mm256_div_ps(_mm256_set1_ps(1.0f), back),
                          _mm256_cmp_ps(back, _mm256_setzero_ps(), _CMP_GT_OQ));
  return _mm256_movemask_ps(fits) == 0xFF;
}

// The reference's code of 8 elements, (x - zero) * inverse + 0.5 truncated, without its clamp to
// [0, levels]: for fp16 input the zero point is the group minimum exactly, so the product is never
// negative, and it exceeds levels by a few ulps at most, which truncation absorbs.
inline __m256i code_f16x8(const uint16_t* x, __m256 zero, __m256 inverse) {
  __m256 v = _mm256_cvtph_ps(load_f16x8_raw(x));
  v = _mm256_mul_ps(_mm256_sub_ps(v, zero), inverse);
  return _mm256_cvttps_epi32(_mm256_add_ps(v, _mm256_set1_ps(0.5f)));
}

// Four vectors of 8 int32 codes (< 256) to 32 bytes in element order.
inline __m256i bytes_of(__m256i a, __m256i b, __m256i c, __m256i d) {
  const __m256i ab = _mm256_packs_epi32(a, b);
  const __m256i cd = _mm256_packs_epi32(c, d);
  return _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd),
                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Packs 32 codes (one per byte) LSB first; returns the end of what it wrote (32*bits/8 bytes).
template <int kBits>
inline unsigned char* pack32(__m256i c, unsigned char* out) {
  switch (kBits) {
    case 8:
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), c);
      return out + 32;
    case 4: {
      __m256i p = _mm256_maddubs_epi16(c, _mm256_set1_epi16(0x1001));  // c0 + 16 c1
      p = _mm256_permute4x64_epi64(_mm256_packus_epi16(p, p), 0x08);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(p));
      return out + 16;
    }
    case 2: {
      __m256i p = _mm256_maddubs_epi16(c, _mm256_set1_epi16(0x0401));  // c0 + 4 c1
      p = _mm256_madd_epi16(p, _mm256_set1_epi32(0x00100001));         // + 16 (c2 + 4 c3)
      p = _mm256_shuffle_epi8(
          p, _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0, 4, 8,
                              12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1));
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(p));
      return out + 8;
    }
    default: {                                                         // 3
      __m256i p = _mm256_maddubs_epi16(c, _mm256_set1_epi16(0x0801));  // c0 + 8 c1
      p = _mm256_madd_epi16(p, _mm256_set1_epi32(0x00400001));         // + 64 (c2 + 8 c3)
      p = _mm256_or_si256(_mm256_and_si256(p, _mm256_set1_epi64x(0xFFF)),
                          _mm256_slli_epi64(_mm256_srli_epi64(p, 32), 12));    // 24 bits a qword
      p = _mm256_or_si256(p, _mm256_slli_epi64(_mm256_srli_si256(p, 8), 24));  // 48 bits a lane
      const uint64_t a = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm256_castsi256_si128(p)));
      const uint64_t b = static_cast<uint64_t>(_mm_cvtsi128_si64(_mm256_extracti128_si256(p, 1)));
      const uint64_t low = (a & 0xFFFFFFFFFFFFull) | (b << 48);
      const uint32_t high = static_cast<uint32_t>(b >> 16);
      std::memcpy(out, &low, 8);
      std::memcpy(out + 8, &high, 4);
      return out + 12;
    }
  }
}

// Order-preserving int16 key of fp16 bits: signed-int order is the float order, except that -0
// (key -1) sorts below +0 (key 0). The map is its own inverse.
inline __m256i order_key(__m256i h) {
  return _mm256_xor_si256(h, _mm256_and_si256(_mm256_srai_epi16(h, 15), _mm256_set1_epi16(0x7FFF)));
}
inline __m128i order_key(__m128i h) {
  return _mm_xor_si128(h, _mm_and_si128(_mm_srai_epi16(h, 15), _mm_set1_epi16(0x7FFF)));
}
inline __m256i load_key16(const uint16_t* p) {
  return order_key(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
// Lanes whose minimum or maximum key is an infinity or a NaN (|h| >= 0x7C00).
inline __m128i non_finite_keys(__m128i lo, __m128i hi) {
  return _mm_or_si128(_mm_cmpgt_epi16(hi, _mm_set1_epi16(0x7BFF)),
                      _mm_cmpgt_epi16(_mm_set1_epi16(-0x7C00), lo));
}
// Lanes whose minimum or maximum is a zero: there the reference keeps the first of +0 and -0.
inline __m128i zero_keys(__m128i lo, __m128i hi) {
  const __m128i plus = _mm_setzero_si128(), minus = _mm_set1_epi16(-1);
  return _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi16(lo, plus), _mm_cmpeq_epi16(lo, minus)),
                      _mm_or_si128(_mm_cmpeq_epi16(hi, plus), _mm_cmpeq_epi16(hi, minus)));
}

// The reference's sequential min and max of n elements at stride (for zero ties).
inline void sequential_min_max(const uint16_t* x, uint64_t stride, uint32_t n, float& lo,
                               float& hi) {
  lo = hi = half_to_float(x[0]);
  for (uint32_t i = 0; i < n; ++i) {
    const float v = half_to_float(x[i * stride]);
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
}

bool fast_path_applies(const QuantizeJob& job) {
  const QuantGeometry& g = job.geometry;
  if (job.input.dtype != DType::F16 || job.side != SideDType::F16) return false;
  if (g.bits != 2 && g.bits != 3 && g.bits != 4 && g.bits != 8) return false;
  if (g.axis == GroupAxis::Tokens) return g.head_dim % 32 == 0;
  return g.group_size % 32 == 0 && g.head_dim % g.group_size == 0;
}

// Keys: per channel, groups of group_size tokens; strips of 32 channels (one cache line a row).
template <int kBits>
QuantOutcome quantize_tokens_f16(const QuantizeJob& job) {
  const QuantGeometry& g = job.geometry;
  const uint32_t dim = g.head_dim;
  constexpr int bits = kBits;
  const __m256 levels = _mm256_set1_ps(static_cast<float>((1u << bits) - 1u));
  uint16_t* zeros = static_cast<uint16_t*>(job.zeros);
  uint16_t* scales = static_cast<uint16_t*>(job.scales);
  const uint64_t stride = job.input.token_stride;
  const uint64_t row_bytes = uint64_t{dim} * bits / 8;
  unsigned char* group_out = job.codes;
  uint64_t group_index = 0;
  for (uint32_t h = 0; h < g.heads; ++h) {
    for (uint32_t t0 = 0; t0 < g.tokens; t0 += g.group_size) {
      const uint32_t rows = std::min(g.group_size, g.tokens - t0);
      const uint16_t* base = reinterpret_cast<const uint16_t*>(job.input.row(h, t0));
      for (uint32_t d0 = 0; d0 < dim; d0 += 32) {
        __m256i lo0 = load_key16(base + d0), lo1 = load_key16(base + d0 + 16);
        __m256i hi0 = lo0, hi1 = lo1;
        for (uint32_t r = 1; r < rows; ++r) {
          const __m256i a = load_key16(base + r * stride + d0);
          const __m256i b = load_key16(base + r * stride + d0 + 16);
          lo0 = _mm256_min_epi16(lo0, a);
          hi0 = _mm256_max_epi16(hi0, a);
          lo1 = _mm256_min_epi16(lo1, b);
          hi1 = _mm256_max_epi16(hi1, b);
        }
        // 32 channels as four 8-lane halves: keys -> fp16 bits -> float
        const __m128i lo_keys[4] = {_mm256_castsi256_si128(lo0), _mm256_extracti128_si256(lo0, 1),
                                    _mm256_castsi256_si128(lo1), _mm256_extracti128_si256(lo1, 1)};
        const __m128i hi_keys[4] = {_mm256_castsi256_si128(hi0), _mm256_extracti128_si256(hi0, 1),
                                    _mm256_castsi256_si128(hi1), _mm256_extracti128_si256(hi1, 1)};
        __m256 z[4], inv[4];
        for (int k = 0; k < 4; ++k) {
          if (!_mm_testz_si128(non_finite_keys(lo_keys[k], hi_keys[k]), _mm_set1_epi16(-1))) {
            return QuantOutcome::NonFinite;
          }
          __m256 lo = _mm256_cvtph_ps(order_key(lo_keys[k]));
          __m256 hi = _mm256_cvtph_ps(order_key(hi_keys[k]));
          const __m128i ties = zero_keys(lo_keys[k], hi_keys[k]);
          if (!_mm_testz_si128(ties, ties)) {
            alignas(32) float l[8], u[8];
            _mm256_store_ps(l, lo);
            _mm256_store_ps(u, hi);
            const int mask = _mm_movemask_epi8(ties);
            for (int j = 0; j < 8; ++j) {
              if (mask >> (2 * j) & 1)
                sequential_min_max(base + d0 + 8 * k + j, stride, rows, l[j], u[j]);
            }
            lo = _mm256_load_ps(l);
            hi = _mm256_load_ps(u);
          }
          __m128i zero_bits, scale_bits;
          if (!side_f16x8(lo, hi, levels, zero_bits, scale_bits, z[k], inv[k])) {
            return QuantOutcome::SideOverflow;
          }
          const uint64_t at = group_index + d0 + 8 * k;
          _mm_storeu_si128(reinterpret_cast<__m128i*>(zeros + at), zero_bits);
          _mm_storeu_si128(reinterpret_cast<__m128i*>(scales + at), scale_bits);
        }
        unsigned char* out = group_out + uint64_t{d0} * bits / 8;
        for (uint32_t r = 0; r < rows; ++r, out += row_bytes) {
          const uint16_t* x = base + r * stride + d0;
          // the same line of the next group: pass 2 is compute-bound, so the next pass 1 hits L1
          _mm_prefetch(reinterpret_cast<const char*>(x + uint64_t{rows} * stride), _MM_HINT_T0);
          const __m256i c =
              bytes_of(code_f16x8(x, z[0], inv[0]), code_f16x8(x + 8, z[1], inv[1]),
                       code_f16x8(x + 16, z[2], inv[2]), code_f16x8(x + 24, z[3], inv[3]));
          pack32<kBits>(c, out);
        }
      }
      group_out += rows * row_bytes;
      group_index += dim;
    }
  }
  return QuantOutcome::Ok;
}

// Lane i of the result: the min (or max) of the 16 int16 lanes of v[i], for 8 vectors.
template <bool kMax>
inline __m128i reduce8x16(const __m256i* v) {
  auto op = [](__m256i a, __m256i b) {
    return kMax ? _mm256_max_epi16(a, b) : _mm256_min_epi16(a, b);
  };
  const __m256i t0 = op(_mm256_unpacklo_epi16(v[0], v[1]), _mm256_unpackhi_epi16(v[0], v[1]));
  const __m256i t1 = op(_mm256_unpacklo_epi16(v[2], v[3]), _mm256_unpackhi_epi16(v[2], v[3]));
  const __m256i t2 = op(_mm256_unpacklo_epi16(v[4], v[5]), _mm256_unpackhi_epi16(v[4], v[5]));
  const __m256i t3 = op(_mm256_unpacklo_epi16(v[6], v[7]), _mm256_unpackhi_epi16(v[6], v[7]));
  const __m256i u0 = op(_mm256_unpacklo_epi32(t0, t1), _mm256_unpackhi_epi32(t0, t1));
  const __m256i u1 = op(_mm256_unpacklo_epi32(t2, t3), _mm256_unpackhi_epi32(t2, t3));
  const __m256i w = op(_mm256_unpacklo_epi64(u0, u1), _mm256_unpackhi_epi64(u0, u1));
  const __m128i a = _mm256_castsi256_si128(w), b = _mm256_extracti128_si256(w, 1);
  return kMax ? _mm_max_epi16(a, b) : _mm_min_epi16(a, b);
}

// Values: per token, groups of group_size elements of a row; 8 groups at a time.
template <int kBits>
QuantOutcome quantize_channels_f16(const QuantizeJob& job) {
  const QuantGeometry& g = job.geometry;
  const uint32_t group = g.group_size;
  const uint32_t groups_per_row = g.head_dim / group;
  const __m256 levels = _mm256_set1_ps(static_cast<float>((1u << g.bits) - 1u));
  uint16_t* zeros = static_cast<uint16_t*>(job.zeros);
  uint16_t* scales = static_cast<uint16_t*>(job.scales);
  unsigned char* out = job.codes;
  uint64_t group_index = 0;
  const uint64_t head_groups = uint64_t{g.tokens} * groups_per_row;
  for (uint32_t h = 0; h < g.heads; ++h) {
    uint32_t token = 0, slot = 0;  // the next group: row token, group slot of the row
    for (uint64_t k0 = 0; k0 < head_groups; k0 += 8) {
      const uint32_t n = static_cast<uint32_t>(std::min<uint64_t>(8, head_groups - k0));
      const uint16_t* p[8];
      for (uint32_t j = 0; j < n; ++j) {
        p[j] = reinterpret_cast<const uint16_t*>(job.input.row(h, token)) + slot * group;
        if (++slot == groups_per_row) {
          slot = 0;
          ++token;
        }
      }
      for (uint32_t j = n; j < 8; ++j) p[j] = p[n - 1];  // a short batch repeats its last group
      __m256i lo_lanes[8], hi_lanes[8];
      for (uint32_t j = 0; j < 8; ++j) {
        __m256i lo = load_key16(p[j]), hi = lo;
        for (uint32_t i = 16; i < group; i += 16) {
          const __m256i v = load_key16(p[j] + i);
          lo = _mm256_min_epi16(lo, v);
          hi = _mm256_max_epi16(hi, v);
        }
        lo_lanes[j] = lo;
        hi_lanes[j] = hi;
      }
      const __m128i lo_keys = reduce8x16<false>(lo_lanes);
      const __m128i hi_keys = reduce8x16<true>(hi_lanes);
      if (!_mm_testz_si128(non_finite_keys(lo_keys, hi_keys), _mm_set1_epi16(-1))) {
        return QuantOutcome::NonFinite;
      }
      __m256 lo = _mm256_cvtph_ps(order_key(lo_keys));
      __m256 hi = _mm256_cvtph_ps(order_key(hi_keys));
      const __m128i ties = zero_keys(lo_keys, hi_keys);
      if (!_mm_testz_si128(ties, ties)) {  // +0 and -0: the reference's sequential order
        alignas(32) float l[8], u[8];
        _mm256_store_ps(l, lo);
        _mm256_store_ps(u, hi);
        const int mask = _mm_movemask_epi8(ties);
        for (uint32_t j = 0; j < 8; ++j) {
          if (mask >> (2 * j) & 1) sequential_min_max(p[j], 1, group, l[j], u[j]);
        }
        lo = _mm256_load_ps(l);
        hi = _mm256_load_ps(u);
      }
      __m128i zero_bits, scale_bits;
      __m256 z, inv;
      if (!side_f16x8(lo, hi, levels, zero_bits, scale_bits, z, inv)) {
        return QuantOutcome::SideOverflow;  // (a repeated group fails only if its original does)
      }
      if (n == 8) {
        _mm_storeu_si128(reinterpret_cast<__m128i*>(zeros + group_index), zero_bits);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(scales + group_index), scale_bits);
      } else {
        alignas(16) uint16_t zb[8], sb[8];
        _mm_store_si128(reinterpret_cast<__m128i*>(zb), zero_bits);
        _mm_store_si128(reinterpret_cast<__m128i*>(sb), scale_bits);
        std::memcpy(zeros + group_index, zb, n * 2);
        std::memcpy(scales + group_index, sb, n * 2);
      }
      group_index += n;
      alignas(32) float zs[8], invs[8];
      _mm256_store_ps(zs, z);
      _mm256_store_ps(invs, inv);
      for (uint32_t j = 0; j < n; ++j) {
        const __m256 zj = _mm256_broadcast_ss(zs + j);
        const __m256 ij = _mm256_broadcast_ss(invs + j);
        for (uint32_t i = 0; i < group; i += 32) {
          // the next batch when rows are packed (a prefetch never faults)
          _mm_prefetch(reinterpret_cast<const char*>(p[j] + 8 * group + i), _MM_HINT_T0);
          const __m256i c =
              bytes_of(code_f16x8(p[j] + i, zj, ij), code_f16x8(p[j] + i + 8, zj, ij),
                       code_f16x8(p[j] + i + 16, zj, ij), code_f16x8(p[j] + i + 24, zj, ij));
          out = pack32<kBits>(c, out);
        }
      }
    }
  }
  return QuantOutcome::Ok;
}

QuantOutcome quantize_f16(const QuantizeJob& job) {
  const bool keys = job.geometry.axis == GroupAxis::Tokens;
  switch (job.geometry.bits) {
    case 2:
      return keys ? quantize_tokens_f16<2>(job) : quantize_channels_f16<2>(job);
    case 3:
      return keys ? quantize_tokens_f16<3>(job) : quantize_channels_f16<3>(job);
    case 4:
      return keys ? quantize_tokens_f16<4>(job) : quantize_channels_f16<4>(job);
    default:
      return keys ? quantize_tokens_f16<8>(job) : quantize_channels_f16<8>(job);
  }
}

#endif  // KVC_HAVE_F16C
