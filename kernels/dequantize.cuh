// dequantize.cuh: device kernel of group-wise dequantization (one thread per element).
#pragma once

#include <cstdint>

#include "quant_math.cuh"

namespace kvc::kernels {

__global__ void dequantize_kernel(QuantShape s, bool per_channel_keys, const uint8_t* codes,
                                  const void* scales, const void* zeros, DequantTarget out);

}  // namespace kvc::kernels
