// quantize.cuh: device kernels of group-wise quantization (group pass, then bit packing).
#pragma once

#include <cstdint>

#include "quant_math.cuh"

namespace kvc::kernels {

// Keys: one thread per group (head, token group, channel), i.e. per group index.
__global__ void quantize_keys_kernel(StridedTensor x, QuantShape s, void* scales, void* zeros,
                                     uint8_t* codes, unsigned long long* failure);

// Values: one thread per group (head, token, row group).
__global__ void quantize_values_kernel(StridedTensor x, QuantShape s, void* scales, void* zeros,
                                       uint8_t* codes, unsigned long long* failure);

// One thread per output byte: gathers the codes that overlap it.
__global__ void pack_codes_kernel(const uint8_t* codes, uint64_t count, int bits, uint8_t* packed,
                                  uint64_t packed_bytes);

}  // namespace kvc::kernels
