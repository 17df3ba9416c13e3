// cpu_backend.cpp: the CPU Backend; dispatches to the AVX2 kernels when the processor has them.
#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"

namespace kvc {

uint64_t QuantGeometry::groups() const {
  if (axis == GroupAxis::Tokens) {
    const uint64_t token_groups = (uint64_t{tokens} + group_size - 1) / group_size;
    return uint64_t{heads} * token_groups * head_dim;
  }
  const uint64_t row_groups = (uint64_t{head_dim} + group_size - 1) / group_size;
  return uint64_t{heads} * tokens * row_groups;
}

uint64_t QuantGeometry::code_bytes() const { return (elements() * bits + 7) / 8; }

void Backend::gather_rows(const TensorView& input, uint32_t heads, uint32_t token_begin,
                          uint32_t count, uint32_t head_dim, unsigned char* out) const {
  const size_t row_bytes = size_t{head_dim} * dtype_size(input.dtype);
  for (uint32_t h = 0; h < heads; ++h) {
    if (input.token_stride == head_dim) {  // this head's rows are contiguous
      std::memcpy(out, input.row(h, token_begin), count * row_bytes);
      out += count * row_bytes;
      continue;
    }
    for (uint32_t t = 0; t < count; ++t, out += row_bytes) {
      std::memcpy(out, input.row(h, token_begin + t), row_bytes);
    }
  }
}

namespace {

#if defined(__x86_64__) || defined(__i386__)
// F16C from CPUID leaf 1 (ECX bit 29): clang 14's __builtin_cpu_supports does not know "f16c".
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}
#endif

const cpu::Kernels& pick_kernels() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c()) {
    return cpu::avx2::kernels();
  }
#endif
  return cpu::generic::kernels();
}

class CpuBackend final : public Backend {
 public:
  CpuBackend() : kernels_(pick_kernels()) {}
  const char* name() const override { return kernels_.name; }
  QuantOutcome quantize(const QuantizeJob& job) const override { return kernels_.quantize(job); }
  void dequantize(const DequantizeJob& job) const override { kernels_.dequantize(job); }

  void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype,
               size_t n) const override {
    if (src_dtype == dst_dtype) {
      std::copy_n(static_cast<const unsigned char*>(src), n * dtype_size(src_dtype),
                  static_cast<unsigned char*>(dst));
      return;
    }
    constexpr size_t kStep = 4096;
    float buffer[kStep];
    for (size_t i = 0; i < n; i += kStep) {
      const size_t m = std::min(kStep, n - i);
      kernels_.to_f32(static_cast<const unsigned char*>(src) + i * dtype_size(src_dtype), src_dtype,
                      buffer, m);
      kernels_.from_f32(buffer, static_cast<unsigned char*>(dst) + i * dtype_size(dst_dtype),
                        dst_dtype, m);
    }
  }

 private:
  const cpu::Kernels& kernels_;
};

}  // namespace

const Backend& cpu_backend() {
  static const CpuBackend backend;
  return backend;
}

}  // namespace kvc
