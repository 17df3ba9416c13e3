// launch_shape.cuh: grid and block sizes of the element-wise kernels (grid-stride loops).
#pragma once

#include <cstdint>

namespace kvc::kernels {

constexpr unsigned kThreadsPerBlock = 256;
constexpr uint64_t kMaxBlocks = 65535ull * 8;  // grid-stride loops cover the rest

inline unsigned blocks_for(uint64_t work_items) {
  const uint64_t blocks = (work_items + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxBlocks ? kMaxBlocks : blocks));
}

}  // namespace kvc::kernels
