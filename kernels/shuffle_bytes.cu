// shuffle_bytes.cu: byte-plane shuffle (and inverse) kernels and launcher, as codecs/entropy_zstd.
#include <cuda_runtime.h>

#include "kernels.h"
#include "launch_shape.cuh"
#include "shuffle_bytes.cuh"

namespace kvc::kernels {

__global__ void shuffle_bytes_kernel(const uint8_t* src, uint64_t n, uint32_t width, uint8_t* dst) {
  const uint64_t total = n * width;
  for (uint64_t j = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; j < total;
       j += uint64_t{gridDim.x} * blockDim.x) {
    dst[j] = src[shuffle_source(j, n, width)];
  }
}

__global__ void unshuffle_bytes_kernel(const uint8_t* src, uint64_t n, uint32_t width,
                                       uint8_t* dst) {
  const uint64_t total = n * width;
  for (uint64_t j = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; j < total;
       j += uint64_t{gridDim.x} * blockDim.x) {
    dst[shuffle_source(j, n, width)] = src[j];
  }
}

int launch_shuffle_bytes(const void* src, uint64_t n, uint32_t width, void* dst, bool is_unshuffle,
                         void* stream) {
  const uint64_t total = n * width;
  if (total == 0) return cudaSuccess;
  cudaStream_t s = static_cast<cudaStream_t>(stream);
  const uint8_t* in = static_cast<const uint8_t*>(src);
  uint8_t* out = static_cast<uint8_t*>(dst);
  if (is_unshuffle) {
    unshuffle_bytes_kernel<<<blocks_for(total), kThreadsPerBlock, 0, s>>>(in, n, width, out);
  } else {
    shuffle_bytes_kernel<<<blocks_for(total), kThreadsPerBlock, 0, s>>>(in, n, width, out);
  }
  return cudaGetLastError();
}

}  // namespace kvc::kernels
