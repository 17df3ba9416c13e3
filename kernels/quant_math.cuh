// quant_math.cuh: per-element math of group-wise quantization, shared by the CUDA kernels and g++.
// Every function here gives the bytes the CPU backend (src/backend/cpu/cpu_kernels_impl.h) gives:
// the same formula order, each float operation rounded on its own (no fused multiply-add: the
// device side calls __fmul_rn/__fadd_rn/__fsub_rn/__fdiv_rn, the CPU is built -ffp-contract=off),
// the same fp16 rounding of scales and zero points, and the same LSB-first bit packing. The group
// loops run in the CPU's order, so that ties between +0 and -0 pick the same element.
// Compiles as CUDA (kernels/*.cu) and as plain C++ (tests/unit/kernels/quant_math_test.cpp).
#pragma once

#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define KVC_HD __host__ __device__ __forceinline__
#else
#define KVC_HD inline
#endif

namespace kvc::kernels {

// Element types, numbered as KVC_DTYPE_* (kvc.h); side types as kvc::SideDType.
constexpr int32_t kDTypeF32 = 0;
constexpr int32_t kDTypeF16 = 1;
constexpr int32_t kDTypeBF16 = 2;
constexpr int32_t kSideF16 = 0;
constexpr int32_t kSideF32 = 1;

// Failure of one group, in the order the CPU checks it (kvc::QuantOutcome).
constexpr uint32_t kFailNonFinite = 0;
constexpr uint32_t kFailSideOverflow = 1;
constexpr unsigned long long kNoFailure = ~0ull;

// ---- exactly rounded float operations ------------------------------------------------------

KVC_HD float qm_mul(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
KVC_HD float qm_add(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
KVC_HD float qm_sub(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
KVC_HD float qm_div(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}
KVC_HD uint32_t qm_bits_of(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
#endif
}
KVC_HD float qm_float_of(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  memcpy(&f, &u, 4);
  return f;
#endif
}
KVC_HD bool qm_is_finite(float f) { return (qm_bits_of(f) & 0x7F800000u) != 0x7F800000u; }
// std::min / std::max as the CPU calls them: the first argument on ties (and on NaN).
KVC_HD float qm_min(float a, float b) { return b < a ? b : a; }
KVC_HD float qm_max(float a, float b) { return a < b ? b : a; }

// ---- fp16 / bf16 conversions, bit for bit those of core/dtype.h and F16C -----------------------

KVC_HD float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F) {
    return qm_float_of(sign | 0x7F800000u | (mantissa << 13) | (mantissa ? 0x400000u : 0u));
  }
  if (exponent != 0) return qm_float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return qm_float_of(sign);
  uint32_t e = 113;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --e;
  }
  return qm_float_of(sign | (e << 23) | ((mantissa & 0x3FFu) << 13));
}

KVC_HD uint16_t float_to_half(float f) {
  const uint32_t u = qm_bits_of(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {
    const uint32_t mantissa = abs & 0x7FFFFFu;
    return static_cast<uint16_t>(sign | 0x7C00u | (mantissa ? (0x200u | (mantissa >> 13)) : 0));
  }
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);
  if (abs < 0x38800000u) {
    if (abs < 0x33000001u) return static_cast<uint16_t>(sign);
    const uint32_t e = abs >> 23;
    const uint32_t mantissa = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - e;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1u);
    const uint32_t midpoint = 1u << (shift - 1u);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = ((abs - 0x38000000u) >> 13);
  const uint32_t rest = abs & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

KVC_HD float bf16_to_float(uint16_t b) { return qm_float_of(static_cast<uint32_t>(b) << 16); }

KVC_HD uint16_t float_to_bf16(float f) {
  const uint32_t u = qm_bits_of(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  const uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

KVC_HD float load_element(const void* base, int32_t dtype, uint64_t index) {
  if (dtype == kDTypeF32) return static_cast<const float*>(base)[index];
  const uint16_t v = static_cast<const uint16_t*>(base)[index];
  return dtype == kDTypeF16 ? half_to_float(v) : bf16_to_float(v);
}

KVC_HD void store_element(void* base, int32_t dtype, uint64_t index, float v) {
  if (dtype == kDTypeF32) {
    static_cast<float*>(base)[index] = v;
  } else {
    static_cast<uint16_t*>(base)[index] = dtype == kDTypeF16 ? float_to_half(v) : float_to_bf16(v);
  }
}

// ---- scale and zero point of one group ---------------------------------------------------------

// A strided [heads][tokens][head_dim] tensor: element (h, t, d) at h*head_stride +
// t*token_stride + d elements from base.
struct StridedTensor {
  const void* base;
  uint64_t head_stride;
  uint64_t token_stride;
  int32_t dtype;
};

KVC_HD float load_at(const StridedTensor& x, uint32_t h, uint32_t t, uint32_t d) {
  return load_element(x.base, x.dtype, h * x.head_stride + t * x.token_stride + d);
}

// What quantization of one group needs after its scale and zero point are stored.
struct GroupParams {
  float zero;     // as stored (fp16 rounded for the fp16 side)
  float inverse;  // 1 / stored scale, or 0 for a zero scale
  bool fits;      // zero and scale are finite in the side type
};

// store_side() of the CPU: the value as stored; scales round up to the next half.
KVC_HD float store_side(float v, int32_t side, bool round_up, void* dst, uint64_t index) {
  if (side == kSideF32) {
    static_cast<float*>(dst)[index] = v;
    return v;
  }
  uint16_t h = float_to_half(v);
  float back = half_to_float(h);
  if (round_up && back < v) {
    ++h;
    back = half_to_float(h);
  }
  static_cast<uint16_t*>(dst)[index] = h;
  return back;
}

// Zero point = min, scale = max(max - zero, 0) / levels, both stored at group index.
KVC_HD GroupParams group_params(float lo, float hi, int bits, int32_t side, void* scales,
                                void* zeros, uint64_t index) {
  const float levels = static_cast<float>((1u << bits) - 1u);
  const float zero = store_side(lo, side, false, zeros, index);
  const float range = qm_max(qm_sub(hi, zero), 0.0f);
  const float scale = store_side(qm_div(range, levels), side, true, scales, index);
  GroupParams p;
  p.zero = zero;
  p.inverse = scale > 0.0f ? qm_div(1.0f, scale) : 0.0f;
  p.fits = qm_is_finite(zero) && qm_is_finite(scale);
  return p;
}

// The code of x: (x - zero) * inverse clamped to [0, levels] (NaN to 0), + 0.5, truncated.
KVC_HD uint8_t code_of(float x, const GroupParams& p, int bits) {
  const float levels = static_cast<float>((1u << bits) - 1u);
  const float q = qm_mul(qm_sub(x, p.zero), p.inverse);
  const float clamped = q > 0.0f ? qm_min(q, levels) : 0.0f;
  return static_cast<uint8_t>(static_cast<int32_t>(qm_add(clamped, 0.5f)));
}

// The decoded value of a code: zero + code * scale.
KVC_HD float dequantized_value(uint32_t code, float scale, float zero) {
  return qm_add(zero, qm_mul(static_cast<float>(code), scale));
}

KVC_HD float load_side(const void* src, int32_t side, uint64_t index) {
  return side == kSideF32 ? static_cast<const float*>(src)[index]
                          : half_to_float(static_cast<const uint16_t*>(src)[index]);
}

// Sortable failure key: the CPU stops at the first failing group, and checks a group's input
// before its side values; the smallest key over all groups is the CPU's outcome.
KVC_HD unsigned long long failure_key(uint64_t group_index, uint32_t kind) {
  return (static_cast<unsigned long long>(group_index) << 1) | kind;
}

// ---- one group, sequentially, in the CPU's element order ---------------------------------------

// Keys: channel d of tokens [t0, t0 + rows) of head h; group index `index`. Codes go one per byte
// to codes[(h*tokens + t) * head_dim + d]. Returns kNoFailure or the group's failure key.
KVC_HD unsigned long long quantize_key_group(const StridedTensor& x, uint32_t h, uint32_t t0,
                                             uint32_t rows, uint32_t d, uint32_t tokens,
                                             uint32_t head_dim, int bits, int32_t side,
                                             uint64_t index, void* scales, void* zeros,
                                             uint8_t* codes) {
  float lo = load_at(x, h, t0, d);
  float hi = lo;
  float check = qm_mul(lo, 0.0f);
  for (uint32_t r = 1; r < rows; ++r) {
    const float v = load_at(x, h, t0 + r, d);
    lo = qm_min(lo, v);
    hi = qm_max(hi, v);
    check = qm_add(check, qm_mul(v, 0.0f));
  }
  if (check != 0.0f) return failure_key(index, kFailNonFinite);
  const GroupParams p = group_params(lo, hi, bits, side, scales, zeros, index);
  if (!p.fits) return failure_key(index, kFailSideOverflow);
  for (uint32_t r = 0; r < rows; ++r) {
    codes[(uint64_t{h} * tokens + t0 + r) * head_dim + d] =
        code_of(load_at(x, h, t0 + r, d), p, bits);
  }
  return kNoFailure;
}

// Values: elements [d0, d0 + n) of token t of head h; group index `index`.
KVC_HD unsigned long long quantize_value_group(const StridedTensor& x, uint32_t h, uint32_t t,
                                               uint32_t d0, uint32_t n, uint32_t tokens,
                                               uint32_t head_dim, int bits, int32_t side,
                                               uint64_t index, void* scales, void* zeros,
                                               uint8_t* codes) {
  float lo = load_at(x, h, t, d0);
  float hi = lo;
  float check = 0.0f;
  for (uint32_t i = 0; i < n; ++i) {
    const float v = load_at(x, h, t, d0 + i);
    lo = qm_min(lo, v);
    hi = qm_max(hi, v);
    check = qm_add(check, qm_mul(v, 0.0f));
  }
  if (check != 0.0f) return failure_key(index, kFailNonFinite);
  const GroupParams p = group_params(lo, hi, bits, side, scales, zeros, index);
  if (!p.fits) return failure_key(index, kFailSideOverflow);
  uint8_t* c = codes + (uint64_t{h} * tokens + t) * head_dim + d0;
  for (uint32_t i = 0; i < n; ++i) c[i] = code_of(load_at(x, h, t, d0 + i), p, bits);
  return kNoFailure;
}

// ---- one work item of each kernel (a thread's body; the CPU test runs them one by one) -------

// Geometry and settings of one quantized tensor (the quantized tokens only).
struct QuantShape {
  uint32_t heads;
  uint32_t tokens;
  uint32_t head_dim;
  int bits;
  uint32_t group_size;  // for values never above head_dim
  int32_t side;
};

KVC_HD uint64_t key_group_count(const QuantShape& s) {
  return uint64_t{s.heads} * ((uint64_t{s.tokens} + s.group_size - 1) / s.group_size) * s.head_dim;
}

KVC_HD uint64_t value_group_count(const QuantShape& s) {
  return uint64_t{s.heads} * s.tokens * ((uint64_t{s.head_dim} + s.group_size - 1) / s.group_size);
}

// Key group i = (head, token group, channel), in the order of the CPU's group indices.
KVC_HD unsigned long long quantize_key_item(const StridedTensor& x, const QuantShape& s, uint64_t i,
                                            void* scales, void* zeros, uint8_t* codes) {
  const uint64_t token_groups = (uint64_t{s.tokens} + s.group_size - 1) / s.group_size;
  const uint32_t d = static_cast<uint32_t>(i % s.head_dim);
  const uint64_t rest = i / s.head_dim;
  const uint32_t t0 = static_cast<uint32_t>(rest % token_groups) * s.group_size;
  const uint32_t h = static_cast<uint32_t>(rest / token_groups);
  const uint32_t rows = s.tokens - t0 < s.group_size ? s.tokens - t0 : s.group_size;
  return quantize_key_group(x, h, t0, rows, d, s.tokens, s.head_dim, s.bits, s.side, i, scales,
                            zeros, codes);
}

// Value group i = (head, token, row group).
KVC_HD unsigned long long quantize_value_item(const StridedTensor& x, const QuantShape& s,
                                              uint64_t i, void* scales, void* zeros,
                                              uint8_t* codes) {
  const uint64_t row_groups = (uint64_t{s.head_dim} + s.group_size - 1) / s.group_size;
  const uint32_t d0 = static_cast<uint32_t>(i % row_groups) * s.group_size;
  const uint64_t row = i / row_groups;
  const uint32_t t = static_cast<uint32_t>(row % s.tokens);
  const uint32_t h = static_cast<uint32_t>(row / s.tokens);
  const uint32_t n = s.head_dim - d0 < s.group_size ? s.head_dim - d0 : s.group_size;
  return quantize_value_group(x, h, t, d0, n, s.tokens, s.head_dim, s.bits, s.side, i, scales,
                              zeros, codes);
}

// ---- bit packing, LSB first --------------------------------------------------------------------

// Byte k of the packed stream of `count` codes (one per byte) of `bits` bits each: bit j of the
// stream is bit (j mod bits) of code j / bits. Bits past the last code are 0.
KVC_HD uint8_t packed_byte(const uint8_t* codes, uint64_t count, int bits, uint64_t k) {
  uint32_t byte = 0;
  const uint64_t first_bit = k * 8;
  uint64_t e = first_bit / bits;
  const uint64_t end_bit = first_bit + 8;
  for (; e < count && e * bits < end_bit; ++e) {
    const int64_t shift = static_cast<int64_t>(e * bits) - static_cast<int64_t>(first_bit);
    const uint32_t c = codes[e] & ((1u << bits) - 1u);
    byte |= shift >= 0 ? (c << shift) : (c >> -shift);
  }
  return static_cast<uint8_t>(byte);
}

// Code e of a packed stream.
KVC_HD uint32_t unpacked_code(const uint8_t* packed, int bits, uint64_t e) {
  const uint64_t bit = e * bits;
  const uint64_t byte = bit >> 3;
  const uint32_t shift = static_cast<uint32_t>(bit & 7);
  uint32_t window = packed[byte];
  if (shift + bits > 8) window |= static_cast<uint32_t>(packed[byte + 1]) << 8;
  return (window >> shift) & ((1u << bits) - 1u);
}

// ---- dequantize one element --------------------------------------------------------------------

// Group index of element (h, t, d) of a [heads][tokens][head_dim] tensor.
KVC_HD uint64_t group_of(uint32_t h, uint32_t t, uint32_t d, uint32_t tokens, uint32_t head_dim,
                         uint32_t group_size, bool per_channel_keys) {
  if (per_channel_keys) {
    const uint64_t token_groups = (uint64_t{tokens} + group_size - 1) / group_size;
    return (uint64_t{h} * token_groups + t / group_size) * head_dim + d;
  }
  const uint64_t row_groups = (uint64_t{head_dim} + group_size - 1) / group_size;
  return (uint64_t{h} * tokens + t) * row_groups + d / group_size;
}

// Element e of a packed code stream, decoded and stored at its (head, token) strides.
struct DequantTarget {
  void* output;
  int32_t dtype;
  uint64_t head_stride;
  uint64_t token_stride;
};

KVC_HD void dequantize_item(const QuantShape& s, bool per_channel_keys, const uint8_t* codes,
                            const void* scales, const void* zeros, const DequantTarget& out,
                            uint64_t e) {
  const uint32_t d = static_cast<uint32_t>(e % s.head_dim);
  const uint64_t row = e / s.head_dim;
  const uint32_t t = static_cast<uint32_t>(row % s.tokens);
  const uint32_t h = static_cast<uint32_t>(row / s.tokens);
  const uint64_t g = group_of(h, t, d, s.tokens, s.head_dim, s.group_size, per_channel_keys);
  const float v = dequantized_value(unpacked_code(codes, s.bits, e), load_side(scales, s.side, g),
                                    load_side(zeros, s.side, g));
  store_element(out.output, out.dtype, h * out.head_stride + t * out.token_stride + d, v);
}

// ---- byte-plane shuffle --------------------------------------------------------------------

// Source byte of shuffled byte j (n elements of width bytes): plane b = j / n, element i = j % n.
KVC_HD uint64_t shuffle_source(uint64_t j, uint64_t n, uint32_t width) {
  return (j % n) * width + j / n;
}

// ---- recent-window gather -------------------------------------------------------------------

// Source byte of byte j of the packed rows [heads][count][row_bytes] taken from tokens
// [token_begin, token_begin + count) of a tensor with the given strides (in bytes).
KVC_HD uint64_t gather_source(uint64_t j, uint64_t head_stride_bytes, uint64_t token_stride_bytes,
                              uint32_t token_begin, uint32_t count, uint64_t row_bytes) {
  const uint64_t b = j % row_bytes;
  const uint64_t row = j / row_bytes;
  const uint64_t t = token_begin + row % count;
  const uint64_t h = row / count;
  return h * head_stride_bytes + t * token_stride_bytes + b;
}

}  // namespace kvc::kernels
