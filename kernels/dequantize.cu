// dequantize.cu: group-wise dequantization kernel and its launcher; value = zero + code * scale,
// each operation rounded on its own, as the CPU backend computes it.
#include <cuda_runtime.h>

#include "dequantize.cuh"
#include "kernels.h"
#include "launch_shape.cuh"

namespace kvc::kernels {

__global__ void dequantize_kernel(uint32_t heads, uint32_t tokens, uint32_t head_dim, int bits,
                                  uint32_t group_size, bool per_channel_keys, int32_t side,
                                  const uint8_t* codes, const void* scales, const void* zeros,
                                  void* output, int32_t output_dtype, uint64_t head_stride,
                                  uint64_t token_stride) {
  const uint64_t elements = uint64_t{heads} * tokens * head_dim;
  for (uint64_t e = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; e < elements;
       e += uint64_t{gridDim.x} * blockDim.x) {
    const uint32_t d = static_cast<uint32_t>(e % head_dim);
    const uint64_t row = e / head_dim;
    const uint32_t t = static_cast<uint32_t>(row % tokens);
    const uint32_t h = static_cast<uint32_t>(row / tokens);
    const uint64_t g = group_of(h, t, d, tokens, head_dim, group_size, per_channel_keys);
    const float v = dequantized_value(unpacked_code(codes, bits, e), load_side(scales, side, g),
                                      load_side(zeros, side, g));
    store_element(output, output_dtype, h * head_stride + t * token_stride + d, v);
  }
}

int launch_dequantize(const DequantizeLaunch& q, void* stream) {
  const uint64_t elements = uint64_t{q.heads} * q.tokens * q.head_dim;
  if (elements == 0) return cudaSuccess;
  dequantize_kernel<<<blocks_for(elements), kThreadsPerBlock, 0,
                      static_cast<cudaStream_t>(stream)>>>(
      q.heads, q.tokens, q.head_dim, q.bits, q.group_size, q.axis == 0, q.side, q.codes, q.scales,
      q.zeros, q.output, q.output_dtype, q.head_stride, q.token_stride);
  return cudaGetLastError();
}

}  // namespace kvc::kernels
