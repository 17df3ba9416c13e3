// quantize.cu: group-wise quantization kernels and their launcher (keys per channel, values per
// token); bytes identical to the CPU backend's codes, scales and zero points.
#include <cuda_runtime.h>

#include "kernels.h"
#include "launch_shape.cuh"
#include "quantize.cuh"

namespace kvc::kernels {

__global__ void quantize_keys_kernel(StridedTensor x, QuantShape s, void* scales, void* zeros,
                                     uint8_t* codes, unsigned long long* failure) {
  const uint64_t groups = key_group_count(s);
  for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < groups;
       i += uint64_t{gridDim.x} * blockDim.x) {
    const unsigned long long key = quantize_key_item(x, s, i, scales, zeros, codes);
    if (key != kNoFailure) atomicMin(failure, key);
  }
}

__global__ void quantize_values_kernel(StridedTensor x, QuantShape s, void* scales, void* zeros,
                                       uint8_t* codes, unsigned long long* failure) {
  const uint64_t groups = value_group_count(s);
  for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < groups;
       i += uint64_t{gridDim.x} * blockDim.x) {
    const unsigned long long key = quantize_value_item(x, s, i, scales, zeros, codes);
    if (key != kNoFailure) atomicMin(failure, key);
  }
}

__global__ void pack_codes_kernel(const uint8_t* codes, uint64_t count, int bits, uint8_t* packed,
                                  uint64_t packed_bytes) {
  for (uint64_t k = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; k < packed_bytes;
       k += uint64_t{gridDim.x} * blockDim.x) {
    packed[k] = packed_byte(codes, count, bits, k);
  }
}

int launch_quantize(const QuantizeLaunch& q, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t rc = cudaMemsetAsync(q.failure, 0xFF, sizeof(unsigned long long), s);
  if (rc != cudaSuccess) return rc;
  const uint64_t elements = uint64_t{q.heads} * q.tokens * q.head_dim;
  if (elements == 0) return cudaSuccess;
  const StridedTensor x{q.input, q.head_stride, q.token_stride, q.input_dtype};
  const QuantShape shape{q.heads, q.tokens, q.head_dim, q.bits, q.group_size, q.side};
  if (q.axis == 0) {
    quantize_keys_kernel<<<blocks_for(key_group_count(shape)), kThreadsPerBlock, 0, s>>>(
        x, shape, q.scales, q.zeros, q.scratch_codes, q.failure);
  } else {
    quantize_values_kernel<<<blocks_for(value_group_count(shape)), kThreadsPerBlock, 0, s>>>(
        x, shape, q.scales, q.zeros, q.scratch_codes, q.failure);
  }
  rc = cudaGetLastError();
  if (rc != cudaSuccess) return rc;
  const uint64_t packed_bytes = (elements * q.bits + 7) / 8;
  pack_codes_kernel<<<blocks_for(packed_bytes), kThreadsPerBlock, 0, s>>>(
      q.scratch_codes, elements, q.bits, q.codes, packed_bytes);
  return cudaGetLastError();
}

const char* error_string(int code) { return cudaGetErrorString(static_cast<cudaError_t>(code)); }

}  // namespace kvc::kernels
