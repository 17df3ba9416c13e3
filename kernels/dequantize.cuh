// dequantize.cuh: device kernel of group-wise dequantization (one thread per element).
#pragma once

#include <cstdint>

#include "quant_math.cuh"

namespace kvc::kernels {

__global__ void dequantize_kernel(uint32_t heads, uint32_t tokens, uint32_t head_dim, int bits,
                                  uint32_t group_size, bool per_channel_keys, int32_t side,
                                  const uint8_t* codes, const void* scales, const void* zeros,
                                  void* output, int32_t output_dtype, uint64_t head_stride,
                                  uint64_t token_stride);

}  // namespace kvc::kernels
