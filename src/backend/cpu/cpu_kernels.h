// cpu_kernels.h: the table of CPU kernels, built once generic and once for AVX2+F16C+FMA.
#pragma once

#include <cstddef>

#include "backend/backend.h"

namespace kvc::cpu {

struct Kernels {
  const char* name;
  QuantOutcome (*quantize)(const QuantizeJob& job);
  void (*dequantize)(const DequantizeJob& job);
  void (*to_f32)(const void* src, DType dtype, float* dst, size_t n);
  void (*from_f32)(const float* src, void* dst, DType dtype, size_t n);
};

namespace generic {
const Kernels& kernels();
}
namespace avx2 {
const Kernels& kernels();  // requires AVX2, F16C and FMA
}

}  // namespace kvc::cpu
