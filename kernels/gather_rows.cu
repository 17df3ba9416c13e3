// gather_rows.cu: packs the raw recent-window rows of a strided tensor; kernel and launcher.
#include <cuda_runtime.h>

#include "gather_rows.cuh"
#include "kernels.h"
#include "launch_shape.cuh"
#include "quant_math.cuh"

namespace kvc::kernels {

__global__ void gather_rows_kernel(const uint8_t* input, uint64_t head_stride_bytes,
                                   uint64_t token_stride_bytes, uint32_t heads,
                                   uint32_t token_begin, uint32_t count, uint64_t row_bytes,
                                   uint8_t* output) {
  const uint64_t total = uint64_t{heads} * count * row_bytes;
  for (uint64_t j = blockIdx.x * uint64_t{blockDim.x} + threadIdx.x; j < total;
       j += uint64_t{gridDim.x} * blockDim.x) {
    output[j] = input[gather_source(j, head_stride_bytes, token_stride_bytes, token_begin, count,
                                    row_bytes)];
  }
}

int launch_gather_rows(const GatherRowsLaunch& g, void* stream) {
  const uint64_t row_bytes = uint64_t{g.head_dim} * g.element_bytes;
  const uint64_t total = uint64_t{g.heads} * g.count * row_bytes;
  if (total == 0) return cudaSuccess;
  gather_rows_kernel<<<blocks_for(total), kThreadsPerBlock, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const uint8_t*>(g.input), g.head_stride * g.element_bytes,
      g.token_stride * g.element_bytes, g.heads, g.token_begin, g.count, row_bytes,
      static_cast<uint8_t*>(g.output));
  return cudaGetLastError();
}

}  // namespace kvc::kernels
