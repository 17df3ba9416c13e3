// attention_mass.cu: token selection's softmax and aggregation on the device, and its launcher;
// the CPU twin is kvc::cpu::attention_mass_from_logits (src/backend/cpu/attention_logits.cpp).
#include <cuda_runtime.h>

#include "attention_mass.cuh"
#include "kernels.h"
#include "launch_shape.cuh"

namespace kvc::kernels {

namespace {

// Block-wide reduction of one double per thread (kThreadsPerBlock threads); every thread gets it.
template <bool kMax>
__device__ double block_reduce(double v, double* shared) {
  shared[threadIdx.x] = v;
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) {
      const double other = shared[threadIdx.x + stride];
      shared[threadIdx.x] = kMax ? fmax(shared[threadIdx.x], other) : shared[threadIdx.x] + other;
    }
    __syncthreads();
  }
  const double result = shared[0];
  __syncthreads();  // shared[] is reused by the next reduction
  return result;
}

}  // namespace

__global__ void attention_mass_kernel(const float* logits, uint32_t num_queries, uint32_t tokens,
                                      uint32_t group, double weight, double* mass) {
  __shared__ double shared[kThreadsPerBlock];
  const uint64_t row = blockIdx.x;  // query head * num_queries + query
  const float* x = logits + row * tokens;
  const uint32_t kv_head = static_cast<uint32_t>(row / num_queries) / group;
  double local_max = -INFINITY;
  for (uint32_t t = threadIdx.x; t < tokens; t += blockDim.x)
    local_max = fmax(local_max, static_cast<double>(x[t]));
  const double max_logit = block_reduce<true>(local_max, shared);
  double local_sum = 0.0;
  for (uint32_t t = threadIdx.x; t < tokens; t += blockDim.x)
    local_sum += exp(static_cast<double>(x[t]) - max_logit);
  const double sum = block_reduce<false>(local_sum, shared);
  double* out = mass + uint64_t{kv_head} * tokens;
  for (uint32_t t = threadIdx.x; t < tokens; t += blockDim.x) {
    atomicAdd(out + t, weight * (exp(static_cast<double>(x[t]) - max_logit) / sum));
  }
}

int launch_attention_mass(const float* logits, uint32_t kv_heads, uint32_t query_heads,
                          uint32_t num_queries, uint32_t tokens, double* mass, void* stream) {
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  cudaError_t rc = cudaMemsetAsync(mass, 0, sizeof(double) * kv_heads * tokens, s);
  if (rc != cudaSuccess) return rc;
  const uint32_t group = query_heads / kv_heads;
  const double weight = 1.0 / (static_cast<double>(group) * num_queries);
  const uint64_t rows = uint64_t{query_heads} * num_queries;
  attention_mass_kernel<<<static_cast<unsigned>(rows), kThreadsPerBlock, 0, s>>>(
      logits, num_queries, tokens, group, weight, mass);
  return cudaGetLastError();
}

}  // namespace kvc::kernels
