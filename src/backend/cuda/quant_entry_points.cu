// quant_entry_points.cu: the plugin's quantize, dequantize, shuffle and gather entry points;
// checks arguments, runs kernels/ through kernels.h, turns CUDA failures into KVC_ERR_DEVICE.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/plugin_abi.h"
#include "kernels/kernels.h"

namespace {

using kvc::cuda::require;

void require_common(int32_t bits, uint32_t group_size, int32_t axis, int32_t side,
                    uint32_t head_dim) {
  require(bits == 2 || bits == 3 || bits == 4 || bits == 8,
          "bits " + std::to_string(bits) + " is not 2, 3, 4 or 8");
  require(group_size >= 1 && group_size <= 128,
          "group_size " + std::to_string(group_size) + " is not in 1..128");
  require(axis == 0 || axis == 1, "axis " + std::to_string(axis) + " is not 0 or 1");
  require(side == 0 || side == 1, "side " + std::to_string(side) + " is not 0 or 1");
  require(axis == 0 || group_size <= head_dim, "group_size " + std::to_string(group_size) +
                                                   " of values exceeds head_dim " +
                                                   std::to_string(head_dim));
}

void require_dtype(int32_t dtype, const char* field) {
  require(dtype == KVC_DTYPE_F32 || dtype == KVC_DTYPE_F16 || dtype == KVC_DTYPE_BF16,
          std::string(field) + " " + std::to_string(dtype) + " is not F32, F16 or BF16");
}

// Device memory freed on scope exit (errors while freeing are left for the next call).
struct DeviceBuffer {
  void* ptr = nullptr;
  explicit DeviceBuffer(size_t bytes) {
    KVC_CUDA_CHECK(cudaMalloc(&ptr, std::max<size_t>(bytes, 1)));
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_quantize(
    const kvc_cuda_quantize_args* args, int32_t* out_outcome, char* message,
    size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    require(args != nullptr && out_outcome != nullptr, "args and out_outcome must not be NULL");
    const kvc_cuda_quantize_args& a = *args;
    require_common(a.bits, a.group_size, a.axis, a.side, a.head_dim);
    require_dtype(a.input_dtype, "input_dtype");
    const uint64_t elements = uint64_t{a.heads} * a.tokens * a.head_dim;
    *out_outcome = 0;
    if (elements == 0) return;
    require(a.input && a.codes && a.scales && a.zeros,
            "input, codes, scales and zeros must be set");
    DeviceBuffer scratch(elements + sizeof(unsigned long long));
    auto* failure = static_cast<unsigned long long*>(scratch.ptr);
    kvc::kernels::QuantizeLaunch q;
    q.input = a.input;
    q.head_stride = a.head_stride;
    q.token_stride = a.token_stride;
    q.input_dtype = a.input_dtype;
    q.heads = a.heads;
    q.tokens = a.tokens;
    q.head_dim = a.head_dim;
    q.bits = a.bits;
    q.group_size = a.group_size;
    q.axis = a.axis;
    q.side = a.side;
    q.codes = a.codes;
    q.scales = a.scales;
    q.zeros = a.zeros;
    q.scratch_codes = static_cast<unsigned char*>(scratch.ptr) + sizeof(unsigned long long);
    q.failure = failure;
    KVC_CUDA_CHECK(kvc::kernels::launch_quantize(q, a.stream));
    unsigned long long first_failure = 0;
    KVC_CUDA_CHECK(cudaMemcpyAsync(&first_failure, failure, sizeof first_failure,
                                   cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(a.stream)));
    KVC_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(a.stream)));
    if (first_failure != ~0ull) *out_outcome = 1 + static_cast<int32_t>(first_failure & 1u);
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_dequantize(
    const kvc_cuda_dequantize_args* args, char* message, size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    require(args != nullptr, "args must not be NULL");
    const kvc_cuda_dequantize_args& a = *args;
    require_common(a.bits, a.group_size, a.axis, a.side, a.head_dim);
    require_dtype(a.output_dtype, "output_dtype");
    if (uint64_t{a.heads} * a.tokens * a.head_dim == 0) return;
    require(a.codes && a.scales && a.zeros && a.output,
            "codes, scales, zeros and output must be set");
    kvc::kernels::DequantizeLaunch d;
    d.heads = a.heads;
    d.tokens = a.tokens;
    d.head_dim = a.head_dim;
    d.bits = a.bits;
    d.group_size = a.group_size;
    d.axis = a.axis;
    d.side = a.side;
    d.codes = a.codes;
    d.scales = a.scales;
    d.zeros = a.zeros;
    d.output = a.output;
    d.output_dtype = a.output_dtype;
    d.head_stride = a.head_stride;
    d.token_stride = a.token_stride;
    KVC_CUDA_CHECK(kvc::kernels::launch_dequantize(d, a.stream));
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_shuffle_bytes(
    const void* src, uint64_t n, uint32_t width, void* dst, int32_t is_unshuffle, void* stream,
    char* message, size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    require(width >= 1 && width <= 8, "width " + std::to_string(width) + " is not in 1..8");
    if (n == 0) return;
    require(src != nullptr && dst != nullptr, "src and dst must not be NULL");
    KVC_CUDA_CHECK(
        kvc::kernels::launch_shuffle_bytes(src, n, width, dst, is_unshuffle != 0, stream));
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_gather_rows(
    const void* input, uint64_t head_stride, uint64_t token_stride, int32_t dtype, uint32_t heads,
    uint32_t token_begin, uint32_t count, uint32_t head_dim, void* output, void* stream,
    char* message, size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    require_dtype(dtype, "dtype");
    if (uint64_t{heads} * count * head_dim == 0) return;
    require(input != nullptr && output != nullptr, "input and output must not be NULL");
    kvc::kernels::GatherRowsLaunch g;
    g.input = input;
    g.head_stride = head_stride;
    g.token_stride = token_stride;
    g.element_bytes = dtype == KVC_DTYPE_F32 ? 4 : 2;
    g.heads = heads;
    g.token_begin = token_begin;
    g.count = count;
    g.head_dim = head_dim;
    g.output = output;
    KVC_CUDA_CHECK(kvc::kernels::launch_gather_rows(g, stream));
  });
}

}  // extern "C"
