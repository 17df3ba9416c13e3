// dtype.h: element types of a cache and exact fp16/bf16 <-> fp32 conversions.
#pragma once

#include <kvc/kvc.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace kvc {

enum class DType : int32_t { F32 = KVC_DTYPE_F32, F16 = KVC_DTYPE_F16, BF16 = KVC_DTYPE_BF16 };

// Bytes of one element.
constexpr size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 2; }

// "float32", "float16" or "bfloat16".
const char* dtype_name(DType t);

// DType from a kvc_dtype; throws Error(KVC_ERR_INVALID_ARGUMENT) naming field for others.
DType dtype_from_c(kvc_dtype t, const char* field);

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// IEEE half to float: exact for every one of the 65,536 values (NaN payloads kept; a signalling
// NaN comes back quiet, as F16C's vcvtph2ps gives it, so every kernel gives the same bits).
inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0x1F) {
    return float_of(sign | 0x7F800000u | (mantissa << 13) | (mantissa ? 0x400000u : 0u));
  }
  if (exponent != 0) return float_of(sign | ((exponent + 112u) << 23) | (mantissa << 13));
  if (mantissa == 0) return float_of(sign);
  // Subnormal half: normalise.
  uint32_t e = 113;
  while ((mantissa & 0x400u) == 0) {
    mantissa <<= 1;
    --e;
  }
  return float_of(sign | (e << 23) | ((mantissa & 0x3FFu) << 13));
}

// Float to IEEE half, round to nearest even; overflow gives infinity, NaN stays NaN.
inline uint16_t f32_to_f16(float f) {
  const uint32_t u = bits_of(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs >= 0x7F800000u) {  // Inf or NaN
    const uint32_t mantissa = abs & 0x7FFFFFu;
    return static_cast<uint16_t>(sign | 0x7C00u | (mantissa ? (0x200u | (mantissa >> 13)) : 0));
  }
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);  // rounds past 65504
  if (abs < 0x38800000u) {                                      // result is subnormal or zero
    if (abs < 0x33000001u) return static_cast<uint16_t>(sign);  // below half the smallest
    const uint32_t e = abs >> 23;
    const uint32_t mantissa = (abs & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - e;  // 14..24
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

inline float bf16_to_f32(uint16_t b) { return float_of(static_cast<uint32_t>(b) << 16); }

// Float to bfloat16, round to nearest even; NaN stays NaN (quiet).
inline uint16_t f32_to_bf16(float f) {
  const uint32_t u = bits_of(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  const uint32_t rounding = 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>((u + rounding) >> 16);
}

// Reads element i of a buffer of dtype t as float.
inline float load_as_f32(const void* data, DType t, size_t i) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(data)[i];
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(data)[i]);
    case DType::BF16:
      return bf16_to_f32(static_cast<const uint16_t*>(data)[i]);
  }
  return 0.0f;
}

// Writes a float as element i of a buffer of dtype t.
inline void store_from_f32(void* data, DType t, size_t i, float v) {
  switch (t) {
    case DType::F32:
      static_cast<float*>(data)[i] = v;
      return;
    case DType::F16:
      static_cast<uint16_t*>(data)[i] = f32_to_f16(v);
      return;
    case DType::BF16:
      static_cast<uint16_t*>(data)[i] = f32_to_bf16(v);
      return;
  }
}

}  // namespace kvc
