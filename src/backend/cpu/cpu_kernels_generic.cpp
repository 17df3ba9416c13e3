// cpu_kernels_generic.cpp: the CPU kernels for any x86-64 or other processor (baseline ISA).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_kernels.h"

namespace kvc::cpu::generic {
#define KVC_KERNEL_NAME "cpu-generic"
#include "backend/cpu/cpu_kernels_impl.h"
#undef KVC_KERNEL_NAME
}  // namespace kvc::cpu::generic
