// cpu_kernels_avx2.cpp: the CPU kernels compiled for AVX2 + F16C + FMA (chosen at run time).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>
#if defined(__AVX2__) && defined(__F16C__)
#include <immintrin.h>
#endif

#include "backend/cpu/cpu_kernels.h"

#if defined(__AVX2__) && defined(__F16C__)
namespace kvc::cpu::avx2 {
#define KVC_KERNEL_NAME "cpu-avx2"
#include "backend/cpu/cpu_kernels_impl.h"
#undef KVC_KERNEL_NAME
}  // namespace kvc::cpu::avx2
#else
namespace kvc::cpu::avx2 {
const Kernels& kernels() { return generic::kernels(); }  // built without AVX2 flags
}  // namespace kvc::cpu::avx2
#endif
