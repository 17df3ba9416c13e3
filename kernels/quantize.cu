// quantize.cu: group-wise quantization kernels and their launcher (keys per channel, values per
// token); bytes identical to the CPU backend's codes, scales and zero points.
#include <cuda_runtime.h>

#include "kernels.h"
#include "launch_shape.cuh"
#include "quantize.cuh"

namespace kvc::kernels {

__global__ void quantize_keys_kernel(StridedTensor x, uint32_t heads, uint32_t tokens,
                                     uint32_t head_dim, int bits, uint32_t group_size, int32_t side,
                                     void* scales, void* zeros, uint8_t* codes,
                                     unsigned long long* failure) {
  const uint64_t token_groups = (uint64_t{tokens} + group_size - 1) / group_size;
  const uint64_t groups = uint64_t{heads} * token_groups * head_dim;
  for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < groups;
       i += uint64_t{gridDim.x} * blockDim.x) {
    const uint32_t d = static_cast<uint32_t>(i % head_dim);
    const uint64_t rest = i / head_dim;
    const uint32_t t0 = static_cast<uint32_t>(rest % token_groups) * group_size;
    const uint32_t h = static_cast<uint32_t>(rest / token_groups);
    const uint32_t rows = tokens - t0 < group_size ? tokens - t0 : group_size;
    const unsigned long long key = quantize_key_group(x, h, t0, rows, d, tokens, head_dim, bits,
                                                      side, i, scales, zeros, codes);
    if (key != kNoFailure) atomicMin(failure, key);
  }
}

__global__ void quantize_values_kernel(StridedTensor x, uint32_t heads, uint32_t tokens,
                                       uint32_t head_dim, int bits, uint32_t group_size,
                                       int32_t side, void* scales, void* zeros, uint8_t* codes,
                                       unsigned long long* failure) {
  const uint64_t row_groups = (uint64_t{head_dim} + group_size - 1) / group_size;
  const uint64_t groups = uint64_t{heads} * tokens * row_groups;
  for (uint64_t i = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; i < groups;
       i += uint64_t{gridDim.x} * blockDim.x) {
    const uint32_t d0 = static_cast<uint32_t>(i % row_groups) * group_size;
    const uint64_t row = i / row_groups;
    const uint32_t t = static_cast<uint32_t>(row % tokens);
    const uint32_t h = static_cast<uint32_t>(row / tokens);
    const uint32_t n = head_dim - d0 < group_size ? head_dim - d0 : group_size;
    const unsigned long long key =
        quantize_value_group(x, h, t, d0, n, tokens, head_dim, bits, side, i, scales, zeros, codes);
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
  if (q.axis == 0) {
    const uint64_t groups =
        uint64_t{q.heads} * ((uint64_t{q.tokens} + q.group_size - 1) / q.group_size) * q.head_dim;
    quantize_keys_kernel<<<blocks_for(groups), kThreadsPerBlock, 0, s>>>(
        x, q.heads, q.tokens, q.head_dim, q.bits, q.group_size, q.side, q.scales, q.zeros,
        q.scratch_codes, q.failure);
  } else {
    const uint64_t groups =
        uint64_t{q.heads} * q.tokens * ((uint64_t{q.head_dim} + q.group_size - 1) / q.group_size);
    quantize_values_kernel<<<blocks_for(groups), kThreadsPerBlock, 0, s>>>(
        x, q.heads, q.tokens, q.head_dim, q.bits, q.group_size, q.side, q.scales, q.zeros,
        q.scratch_codes, q.failure);
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
