// shuffle_bytes.cuh: device kernels of the byte-plane shuffle of a section and its inverse.
#pragma once

#include <cstdint>

#include "quant_math.cuh"

namespace kvc::kernels {

// One thread per byte: dst[j] = src[shuffle_source(j)].
__global__ void shuffle_bytes_kernel(const uint8_t* src, uint64_t n, uint32_t width, uint8_t* dst);
// One thread per byte: dst[shuffle_source(j)] = src[j].
__global__ void unshuffle_bytes_kernel(const uint8_t* src, uint64_t n, uint32_t width,
                                       uint8_t* dst);

}  // namespace kvc::kernels
