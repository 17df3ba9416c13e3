// gather_rows.cuh: device kernel that packs a token range of a strided tensor (the recent window).
#pragma once

#include <cstdint>

namespace kvc::kernels {

// One thread per output byte of [heads][count][head_dim * element_bytes].
__global__ void gather_rows_kernel(const uint8_t* input, uint64_t head_stride_bytes,
                                   uint64_t token_stride_bytes, uint32_t heads,
                                   uint32_t token_begin, uint32_t count, uint64_t row_bytes,
                                   uint8_t* output);

}  // namespace kvc::kernels
