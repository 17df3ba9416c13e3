// dequantize.cu: group-wise dequantization kernel and its launcher; value = zero + code * scale,
// each operation rounded on its own, as the CPU backend computes it.
#include <cuda_runtime.h>

#include "dequantize.cuh"
#include "kernels.h"
#include "launch_shape.cuh"

namespace kvc::kernels {

__global__ void dequantize_kernel(QuantShape s, bool per_channel_keys, const uint8_t* codes,
                                  const void* scales, const void* zeros, DequantTarget out) {
  const uint64_t elements = uint64_t{s.heads} * s.tokens * s.head_dim;
  for (uint64_t e = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; e < elements;
       e += uint64_t{gridDim.x} * blockDim.x) {
    dequantize_item(s, per_channel_keys, codes, scales, zeros, out, e);
  }
}

int launch_dequantize(const DequantizeLaunch& q, void* stream) {
  const uint64_t elements = uint64_t{q.heads} * q.tokens * q.head_dim;
  if (elements == 0) return cudaSuccess;
  const QuantShape shape{q.heads, q.tokens, q.head_dim, q.bits, q.group_size, q.side};
  const DequantTarget out{q.output, q.output_dtype, q.head_stride, q.token_stride};
  dequantize_kernel<<<blocks_for(elements), kThreadsPerBlock, 0,
                      static_cast<cudaStream_t>(stream)>>>(shape, q.axis == 0, q.codes, q.scales,
                                                           q.zeros, out);
  return cudaGetLastError();
}

}  // namespace kvc::kernels
