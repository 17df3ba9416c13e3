// cpu_kernels_impl.h: body of the CPU quantization kernels; included once per instruction set
// inside namespace kvc::cpu::KVC_KERNEL_NAMESPACE, so that the loops vectorize for each target.
// Not a normal header: only cpu_kernels_generic.cpp and cpu_kernels_avx2.cpp include it.

// The including file includes <algorithm>, <cmath>, <cstring>, <vector> (and <immintrin.h> for
// AVX2) before opening the namespace.
#if defined(__F16C__) && defined(__AVX2__)
#define KVC_HAVE_F16C 1
#endif

namespace {

constexpr uint32_t kMaxBlockRows = 128;  // group_size is at most 128

// ---- dtype conversion of contiguous runs --------------------------------------------------

inline float half_to_float(uint16_t h) {
#ifdef KVC_HAVE_F16C
  return _cvtsh_ss(h);
#else
  return f16_to_f32(h);
#endif
}

inline uint16_t float_to_half(float f) {
#ifdef KVC_HAVE_F16C
  // _mm_cvtps_ph, not _cvtss_sh: clang's _cvtss_sh macro is a compound literal (-Wpedantic).
  return static_cast<uint16_t>(
      _mm_extract_epi16(_mm_cvtps_ph(_mm_set_ss(f), _MM_FROUND_TO_NEAREST_INT), 0));
#else
  return f32_to_f16(f);
#endif
}

void to_f32_impl(const void* src, DType dtype, float* __restrict dst, size_t n) {
  if (dtype == DType::F32) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  const uint16_t* in = static_cast<const uint16_t*>(src);
  size_t i = 0;
  if (dtype == DType::F16) {
#ifdef KVC_HAVE_F16C
    for (; i + 8 <= n; i += 8) {
      __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
      _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
    }
#endif
    for (; i < n; ++i) dst[i] = f16_to_f32(in[i]);
    return;
  }
  for (; i < n; ++i) {  // bf16: a shift; vectorizes
    const uint32_t bits = static_cast<uint32_t>(in[i]) << 16;
    std::memcpy(dst + i, &bits, 4);
  }
}

void from_f32_impl(const float* __restrict src, void* dst, DType dtype, size_t n) {
  if (dtype == DType::F32) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  uint16_t* out = static_cast<uint16_t*>(dst);
  size_t i = 0;
  if (dtype == DType::F16) {
#ifdef KVC_HAVE_F16C
    for (; i + 8 <= n; i += 8) {
      __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), h);
    }
#endif
    for (; i < n; ++i) out[i] = f32_to_f16(src[i]);
    return;
  }
  for (; i < n; ++i) out[i] = f32_to_bf16(src[i]);
}

// ---- bit packing: codes (one per byte) <-> LSB-first bitstream ---------------------------

struct BitWriter {
  unsigned char* out;
  uint64_t bit_pos = 0;

  void put_generic(const uint8_t* codes, size_t n, int bits) {
    for (size_t i = 0; i < n; ++i) {
      const uint32_t c = codes[i];
      for (int b = 0; b < bits; ++b, ++bit_pos) {
        unsigned char& byte = out[bit_pos >> 3];
        const unsigned mask = 1u << (bit_pos & 7);
        byte = static_cast<unsigned char>(((c >> b) & 1u) ? (byte | mask) : (byte & ~mask));
      }
    }
  }

  void put(const uint8_t* __restrict codes, size_t n, int bits) {
    size_t i = 0;
    if ((bit_pos & 7) == 0) {
      unsigned char* __restrict o = out + (bit_pos >> 3);
      const size_t whole = n & ~size_t{7};  // multiples of 8 codes end on a byte boundary
      switch (bits) {
        case 8:
          std::memcpy(o, codes, whole);
          break;
        case 4:
          for (size_t k = 0; k < whole / 2; ++k) {
            o[k] = static_cast<unsigned char>(codes[2 * k] | (codes[2 * k + 1] << 4));
          }
          break;
        case 2:
          for (size_t k = 0; k < whole / 4; ++k) {
            o[k] = static_cast<unsigned char>(codes[4 * k] | (codes[4 * k + 1] << 2) |
                                              (codes[4 * k + 2] << 4) | (codes[4 * k + 3] << 6));
          }
          break;
        case 3:
          for (size_t k = 0; k < whole / 8; ++k) {
            const uint8_t* c = codes + 8 * k;
            const uint32_t v = c[0] | (c[1] << 3) | (c[2] << 6) | (c[3] << 9) | (c[4] << 12) |
                               (c[5] << 15) | (c[6] << 18) | (static_cast<uint32_t>(c[7]) << 21);
            o[3 * k] = static_cast<unsigned char>(v);
            o[3 * k + 1] = static_cast<unsigned char>(v >> 8);
            o[3 * k + 2] = static_cast<unsigned char>(v >> 16);
          }
          break;
      }
      i = whole;
      bit_pos += uint64_t{whole} * bits;
    }
    if (i < n) put_generic(codes + i, n - i, bits);
  }
};

struct BitReader {
  const unsigned char* in;
  uint64_t bit_pos = 0;

  void get_generic(uint8_t* codes, size_t n, int bits) {
    for (size_t i = 0; i < n; ++i) {
      uint32_t c = 0;
      for (int b = 0; b < bits; ++b, ++bit_pos) {
        c |= ((in[bit_pos >> 3] >> (bit_pos & 7)) & 1u) << b;
      }
      codes[i] = static_cast<uint8_t>(c);
    }
  }

  void get(uint8_t* __restrict codes, size_t n, int bits) {
    size_t i = 0;
    if ((bit_pos & 7) == 0) {
      const unsigned char* __restrict p = in + (bit_pos >> 3);
      const size_t whole = n & ~size_t{7};
      switch (bits) {
        case 8:
          std::memcpy(codes, p, whole);
          break;
        case 4:
          for (size_t k = 0; k < whole / 2; ++k) {
            codes[2 * k] = p[k] & 0x0F;
            codes[2 * k + 1] = p[k] >> 4;
          }
          break;
        case 2:
          for (size_t k = 0; k < whole / 4; ++k) {
            codes[4 * k] = p[k] & 3;
            codes[4 * k + 1] = (p[k] >> 2) & 3;
            codes[4 * k + 2] = (p[k] >> 4) & 3;
            codes[4 * k + 3] = p[k] >> 6;
          }
          break;
        case 3:
          for (size_t k = 0; k < whole / 8; ++k) {
            const uint32_t v = p[3 * k] | (p[3 * k + 1] << 8) | (p[3 * k + 2] << 16);
            for (int j = 0; j < 8; ++j) codes[8 * k + j] = (v >> (3 * j)) & 7;
          }
          break;
      }
      i = whole;
      bit_pos += uint64_t{whole} * bits;
    }
    if (i < n) get_generic(codes + i, n - i, bits);
  }
};

// ---- scale and zero point of one group ----------------------------------------------------

// Rounds a side value to its stored type; for scales, upward, so the maximum stays in range.
struct SideValue {
  float value;
  bool fits;
};

inline SideValue store_side(float v, SideDType side, bool round_up, void* dst, uint64_t index) {
  if (side == SideDType::F32) {
    static_cast<float*>(dst)[index] = v;
    return {v, std::isfinite(v)};
  }
  uint16_t h = float_to_half(v);
  float back = half_to_float(h);
  if (round_up && back < v) {  // v >= 0 here: the next half up
    ++h;
    back = half_to_float(h);
  }
  static_cast<uint16_t*>(dst)[index] = h;
  return {back, std::isfinite(back)};
}

inline float load_side(const void* src, SideDType side, uint64_t index) {
  return side == SideDType::F32 ? static_cast<const float*>(src)[index]
                                : half_to_float(static_cast<const uint16_t*>(src)[index]);
}

// ---- quantize -----------------------------------------------------------------------------

// clamp(v, 0, levels), except that NaN gives 0: with a float32 scale so small (subnormal) that
// its inverse is infinite, an element equal to the zero point gives 0 * inf. Same codes as
// std::clamp for every other v.
inline float clamp_code(float v, float levels) { return v > 0.0f ? std::min(v, levels) : 0.0f; }

// Keys: per channel, groups of group_size tokens. Groups are indexed (head, token group, dim).
QuantOutcome quantize_tokens_axis(const QuantizeJob& job, float* block, uint8_t* codes) {
  const QuantGeometry& g = job.geometry;
  const uint32_t dim = g.head_dim;
  const float levels = static_cast<float>((1u << g.bits) - 1u);
  std::vector<float> mn(dim), mx(dim), zero(dim), inverse(dim), check(dim);
  BitWriter writer{job.codes};
  uint64_t group_index = 0;
  for (uint32_t h = 0; h < g.heads; ++h) {
    for (uint32_t t0 = 0; t0 < g.tokens; t0 += g.group_size) {
      const uint32_t rows = std::min(g.group_size, g.tokens - t0);
      for (uint32_t r = 0; r < rows; ++r) {
        to_f32_impl(job.input.row(h, t0 + r), job.input.dtype, block + size_t{r} * dim, dim);
      }
      float* __restrict lo = mn.data();
      float* __restrict hi = mx.data();
      float* __restrict chk = check.data();
      for (uint32_t d = 0; d < dim; ++d) {
        lo[d] = block[d];
        hi[d] = block[d];
        chk[d] = block[d] * 0.0f;
      }
      for (uint32_t r = 1; r < rows; ++r) {
        const float* __restrict x = block + size_t{r} * dim;
        for (uint32_t d = 0; d < dim; ++d) {
          lo[d] = std::min(lo[d], x[d]);
          hi[d] = std::max(hi[d], x[d]);
          chk[d] += x[d] * 0.0f;  // NaN if any x is NaN or infinite
        }
      }
      for (uint32_t d = 0; d < dim; ++d) {
        if (chk[d] != 0.0f) return QuantOutcome::NonFinite;
        const SideValue z = store_side(lo[d], job.side, false, job.zeros, group_index + d);
        const float range = std::max(hi[d] - z.value, 0.0f);
        const SideValue s = store_side(range / levels, job.side, true, job.scales, group_index + d);
        if (!z.fits || !s.fits) return QuantOutcome::SideOverflow;
        zero[d] = z.value;
        inverse[d] = s.value > 0.0f ? 1.0f / s.value : 0.0f;
      }
      const float* __restrict zf = zero.data();
      const float* __restrict inv = inverse.data();
      for (uint32_t r = 0; r < rows; ++r) {
        const float* __restrict x = block + size_t{r} * dim;
        uint8_t* __restrict c = codes + size_t{r} * dim;
        for (uint32_t d = 0; d < dim; ++d) {
          const float q = clamp_code((x[d] - zf[d]) * inv[d], levels);
          c[d] = static_cast<uint8_t>(static_cast<int32_t>(q + 0.5f));
        }
      }
      writer.put(codes, size_t{rows} * dim, g.bits);
      group_index += dim;
    }
  }
  return QuantOutcome::Ok;
}

// Values: per token, groups of group_size consecutive elements of each row.
QuantOutcome quantize_channels_axis(const QuantizeJob& job, float* row, uint8_t* codes) {
  const QuantGeometry& g = job.geometry;
  const uint32_t dim = g.head_dim;
  const float levels = static_cast<float>((1u << g.bits) - 1u);
  BitWriter writer{job.codes};
  uint64_t group_index = 0;
  for (uint32_t h = 0; h < g.heads; ++h) {
    for (uint32_t t = 0; t < g.tokens; ++t) {
      to_f32_impl(job.input.row(h, t), job.input.dtype, row, dim);
      for (uint32_t d0 = 0; d0 < dim; d0 += g.group_size) {
        const uint32_t n = std::min(g.group_size, dim - d0);
        const float* __restrict x = row + d0;
        float lo = x[0], hi = x[0], chk = 0.0f;
        for (uint32_t i = 0; i < n; ++i) {
          lo = std::min(lo, x[i]);
          hi = std::max(hi, x[i]);
          chk += x[i] * 0.0f;
        }
        if (chk != 0.0f) return QuantOutcome::NonFinite;
        const SideValue z = store_side(lo, job.side, false, job.zeros, group_index);
        const SideValue s = store_side(std::max(hi - z.value, 0.0f) / levels, job.side, true,
                                       job.scales, group_index);
        if (!z.fits || !s.fits) return QuantOutcome::SideOverflow;
        ++group_index;
        const float zf = z.value;
        const float inv = s.value > 0.0f ? 1.0f / s.value : 0.0f;
        uint8_t* __restrict c = codes + d0;
        for (uint32_t i = 0; i < n; ++i) {
          const float q = clamp_code((x[i] - zf) * inv, levels);
          c[i] = static_cast<uint8_t>(static_cast<int32_t>(q + 0.5f));
        }
      }
      writer.put(codes, dim, g.bits);
    }
  }
  return QuantOutcome::Ok;
}

#include "backend/cpu/cpu_kernels_fast_f16.h"

QuantOutcome quantize_impl(const QuantizeJob& job) {
  const QuantGeometry& g = job.geometry;
  if (g.elements() == 0) return QuantOutcome::Ok;
#ifdef KVC_HAVE_F16C
  if (fast_path_applies(job)) return quantize_f16(job);
#endif
  // The writer keeps bits it does not write: zero the last byte so its unused high bits are 0,
  // not whatever the buffer held before (which made the blob depend on earlier calls).
  job.codes[g.code_bytes() - 1] = 0;
  const size_t rows = g.axis == GroupAxis::Tokens ? g.group_size : 1;
  std::vector<float> block(rows * g.head_dim);
  std::vector<uint8_t> codes(rows * g.head_dim);
  return g.axis == GroupAxis::Tokens ? quantize_tokens_axis(job, block.data(), codes.data())
                                     : quantize_channels_axis(job, block.data(), codes.data());
}

// ---- dequantize ---------------------------------------------------------------------------

void dequantize_impl(const DequantizeJob& job) {
  const QuantGeometry& g = job.geometry;
  if (g.elements() == 0) return;
  const uint32_t dim = g.head_dim;
  const size_t elem = dtype_size(job.output_dtype);
  unsigned char* out = static_cast<unsigned char*>(job.output);
  BitReader reader{job.codes};
  std::vector<float> row(dim), scale(dim), zero(dim);
  std::vector<uint8_t> codes(size_t{std::max(g.group_size, 1u)} * dim);
  uint64_t group_index = 0;
  for (uint32_t h = 0; h < g.heads; ++h) {
    if (g.axis == GroupAxis::Tokens) {
      for (uint32_t t0 = 0; t0 < g.tokens; t0 += g.group_size) {
        const uint32_t rows = std::min(g.group_size, g.tokens - t0);
        for (uint32_t d = 0; d < dim; ++d) {
          scale[d] = load_side(job.scales, job.side, group_index + d);
          zero[d] = load_side(job.zeros, job.side, group_index + d);
        }
        group_index += dim;
        reader.get(codes.data(), size_t{rows} * dim, g.bits);
        const float* __restrict s = scale.data();
        const float* __restrict z = zero.data();
        for (uint32_t r = 0; r < rows; ++r) {
          const uint8_t* __restrict c = codes.data() + size_t{r} * dim;
          float* __restrict x = row.data();
          for (uint32_t d = 0; d < dim; ++d) x[d] = z[d] + static_cast<float>(c[d]) * s[d];
          from_f32_impl(x, out + (h * job.head_stride + (t0 + r) * job.token_stride) * elem,
                        job.output_dtype, dim);
        }
      }
    } else {
      for (uint32_t t = 0; t < g.tokens; ++t) {
        reader.get(codes.data(), dim, g.bits);
        for (uint32_t d0 = 0; d0 < dim; d0 += g.group_size) {
          const uint32_t n = std::min(g.group_size, dim - d0);
          const float s = load_side(job.scales, job.side, group_index);
          const float z = load_side(job.zeros, job.side, group_index);
          ++group_index;
          const uint8_t* __restrict c = codes.data() + d0;
          float* __restrict x = row.data() + d0;
          for (uint32_t i = 0; i < n; ++i) x[i] = z + static_cast<float>(c[i]) * s;
        }
        from_f32_impl(row.data(), out + (h * job.head_stride + t * job.token_stride) * elem,
                      job.output_dtype, dim);
      }
    }
  }
}

}  // namespace

const Kernels& kernels() {
  static const Kernels table{KVC_KERNEL_NAME, quantize_impl, dequantize_impl, to_f32_impl,
                             from_f32_impl};
  return table;
}

#undef KVC_HAVE_F16C
