// fuzz_common.h: helpers shared by the fuzz targets: status checks, control bytes, a context per
// process and element access by dtype.
#pragma once

#include <kvc/kvc.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace kvc_fuzz {

// Inputs may make a call fail, never crash: any status but a documented one is a bug.
inline void check_status(kvc_status status, const char* call, kvc_context* ctx) {
  switch (status) {
    case KVC_OK:
    case KVC_ERR_INVALID_ARGUMENT:
    case KVC_ERR_BUFFER_TOO_SMALL:
    case KVC_ERR_CORRUPT_DATA:
    case KVC_ERR_UNSUPPORTED_VERSION:
    case KVC_ERR_OUT_OF_MEMORY:
    case KVC_ERR_IO:
      return;
    default:
      std::fprintf(stderr, "%s returned %s: %s\n", call, kvc_status_name(status),
                   ctx ? kvc_context_last_error(ctx) : "");
      std::abort();
  }
}

// Stops the run with a message when an invariant of the API does not hold.
inline void expect(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// Reads control bytes one at a time; 0 once the input runs out.
class Controls {
 public:
  Controls(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint32_t next(uint32_t modulus) { return pos_ < size_ ? data_[pos_++] % modulus : 0; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// One context for the whole process (contexts are cheap, but this keeps runs fast).
inline kvc_context* context() {
  static kvc_context* ctx = [] {
    kvc_context* c = nullptr;
    if (kvc_context_create(nullptr, &c, nullptr, 0) != KVC_OK) std::abort();
    return c;
  }();
  return ctx;
}

// ---- Elements of the cache dtypes ----------------------------------------------------------

inline size_t dtype_bytes(kvc_dtype dtype) { return dtype == KVC_DTYPE_F32 ? 4 : 2; }

inline bool is_finite(const unsigned char* p, kvc_dtype dtype) {
  if (dtype == KVC_DTYPE_F32) {
    float f;
    std::memcpy(&f, p, 4);
    return std::isfinite(f);
  }
  uint16_t h;
  std::memcpy(&h, p, 2);
  if (dtype == KVC_DTYPE_F16) return ((h >> 10) & 0x1f) != 0x1f;
  return ((h >> 7) & 0xff) != 0xff;  // bfloat16
}

// An element of any cache dtype as float.
inline float to_float(const unsigned char* p, kvc_dtype dtype) {
  if (dtype == KVC_DTYPE_F16) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    const int exponent = (h >> 10) & 0x1f;
    const float magnitude =
        exponent == 0    ? std::ldexp(static_cast<float>(h & 0x3ff), -24)
        : exponent == 31 ? ((h & 0x3ff) ? NAN : INFINITY)
                         : std::ldexp(static_cast<float>((h & 0x3ff) | 0x400), exponent - 25);
    return (h & 0x8000) ? -magnitude : magnitude;
  }
  uint32_t bits = 0;
  if (dtype == KVC_DTYPE_F32) {
    std::memcpy(&bits, p, 4);
  } else {
    uint16_t h;
    std::memcpy(&h, p, 2);
    bits = uint32_t{h} << 16;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace kvc_fuzz
