// emulated_cuda_plugin.cpp: a libkvc_cuda.so stand-in for machines without a GPU: the plugin ABI
// on host memory, running the kernels' own per-thread code (kernels/quant_math.cuh) one work item
// after another, so CI tests every CUDA-context path of libkvc.so (tests/api/device_context_test).
//
// "Device" pointers are host addresses plus 2^62: not canonical on x86-64 or AArch64, so a host
// read or write of one by libkvc.so faults at once, and a host pointer passed where device memory
// is expected is refused with KVC_ERR_INVALID_ARGUMENT.
#include <kvc/kvc.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "backend/plugin_abi.h"
#include "kernels/quant_math.cuh"

namespace {

namespace k = kvc::kernels;

constexpr uintptr_t kDeviceTag = uintptr_t{1} << 62;

// Calls counted by entry point, read by the tests through kvc_cuda_emulator_count.
enum Counter { kQuantize, kDequantize, kGather, kShuffle, kToDevice, kToHost, kMalloc, kFree, kN };
std::atomic<uint64_t> counters[kN];
std::atomic<int64_t> live_allocations{0};

struct Failure {
  int32_t status;
  std::string message;
};

template <class Body>
int32_t guarded(char* message, size_t capacity, Body&& body) noexcept {
  std::string text;
  int32_t status = KVC_OK;
  try {
    body();
  } catch (const Failure& f) {
    status = f.status;
    text = f.message;
  } catch (...) {
    status = KVC_ERR_INTERNAL;
    text = "unexpected exception in the emulated CUDA plugin";
  }
  if (message != nullptr && capacity > 0) {
    const size_t n = text.size() < capacity - 1 ? text.size() : capacity - 1;
    std::memcpy(message, text.data(), n);
    message[n] = '\0';
  }
  return status;
}

void require(bool condition, const std::string& message) {
  if (!condition) throw Failure{KVC_ERR_INVALID_ARGUMENT, message};
}

// The host address of emulated device memory; refuses host pointers.
template <class T>
T* host(T* device, const char* what) {
  const auto address = reinterpret_cast<uintptr_t>(device);
  require(address >= kDeviceTag, std::string(what) + " is not device memory");
  return reinterpret_cast<T*>(address - kDeviceTag);
}

void require_dtype(int32_t dtype) {
  require(dtype == KVC_DTYPE_F32 || dtype == KVC_DTYPE_F16 || dtype == KVC_DTYPE_BF16,
          "dtype " + std::to_string(dtype) + " is not F32, F16 or BF16");
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) uint32_t kvc_cuda_plugin_abi_version(void) {
  return KVC_CUDA_PLUGIN_ABI_VERSION;
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_device_count(void) { return 1; }

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_set_device(int32_t device,
                                                                          char* message,
                                                                          size_t capacity) {
  return guarded(message, capacity, [&] {
    if (device != 0) throw Failure{KVC_ERR_DEVICE, "cudaSetDevice: invalid device ordinal"};
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_malloc(uint64_t bytes, void** out,
                                                                      char* message,
                                                                      size_t capacity) {
  return guarded(message, capacity, [&] {
    require(out != nullptr, "out must not be NULL");
    *out = nullptr;
    if (bytes == 0) return;
    void* p = std::malloc(bytes);
    if (p == nullptr) throw Failure{KVC_ERR_OUT_OF_MEMORY, "cudaMalloc: out of memory"};
    ++counters[kMalloc];
    ++live_allocations;
    *out = reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) + kDeviceTag);
  });
}

__attribute__((visibility("default"))) void kvc_cuda_plugin_free(void* device_pointer) {
  if (device_pointer == nullptr) return;
  ++counters[kFree];
  --live_allocations;
  std::free(reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(device_pointer) - kDeviceTag));
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_memcpy(void* dst, const void* src,
                                                                      uint64_t bytes, int32_t kind,
                                                                      void* /*stream*/,
                                                                      char* message,
                                                                      size_t capacity) {
  return guarded(message, capacity, [&] {
    require(kind >= KVC_CUDA_COPY_HOST_TO_DEVICE && kind <= KVC_CUDA_COPY_DEVICE_TO_DEVICE,
            "kind " + std::to_string(kind) + " is not a copy direction");
    if (bytes == 0) return;
    require(dst != nullptr && src != nullptr, "dst and src must not be NULL");
    void* to = kind == KVC_CUDA_COPY_DEVICE_TO_HOST ? dst : host(dst, "dst");
    const void* from = kind == KVC_CUDA_COPY_HOST_TO_DEVICE ? src : host(src, "src");
    require(reinterpret_cast<uintptr_t>(to) < kDeviceTag &&
                reinterpret_cast<uintptr_t>(from) < kDeviceTag,
            "a device pointer was given as host memory");
    if (kind == KVC_CUDA_COPY_HOST_TO_DEVICE) ++counters[kToDevice];
    if (kind == KVC_CUDA_COPY_DEVICE_TO_HOST) ++counters[kToHost];
    std::memcpy(to, from, bytes);
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_synchronize(void* /*stream*/,
                                                                           char* message,
                                                                           size_t capacity) {
  return guarded(message, capacity, [] {});
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_quantize(
    const kvc_cuda_quantize_args* args, int32_t* out_outcome, char* message, size_t capacity) {
  return guarded(message, capacity, [&] {
    require(args != nullptr && out_outcome != nullptr, "args and out_outcome must not be NULL");
    const kvc_cuda_quantize_args& a = *args;
    require(a.bits == 2 || a.bits == 3 || a.bits == 4 || a.bits == 8, "bits");
    require(a.group_size >= 1 && a.group_size <= 128, "group_size");
    require(a.axis == 0 || a.axis == 1, "axis");
    require(a.side == 0 || a.side == 1, "side");
    require_dtype(a.input_dtype);
    *out_outcome = 0;
    const uint64_t elements = uint64_t{a.heads} * a.tokens * a.head_dim;
    if (elements == 0) return;
    ++counters[kQuantize];
    const k::StridedTensor x{host(a.input, "input"), a.head_stride, a.token_stride, a.input_dtype};
    const k::QuantShape s{a.heads, a.tokens, a.head_dim, a.bits, a.group_size, a.side};
    void* scales = host(a.scales, "scales");
    void* zeros = host(a.zeros, "zeros");
    auto* codes = static_cast<uint8_t*>(std::malloc(elements));
    if (codes == nullptr) throw Failure{KVC_ERR_OUT_OF_MEMORY, "cudaMalloc: out of memory"};
    unsigned long long first = k::kNoFailure;
    const uint64_t groups = a.axis == 0 ? k::key_group_count(s) : k::value_group_count(s);
    for (uint64_t i = 0; i < groups; ++i) {
      const unsigned long long key = a.axis == 0
                                         ? k::quantize_key_item(x, s, i, scales, zeros, codes)
                                         : k::quantize_value_item(x, s, i, scales, zeros, codes);
      if (key < first) first = key;  // the kernels' atomicMin
    }
    uint8_t* packed = host(a.codes, "codes");
    const uint64_t packed_bytes = (elements * a.bits + 7) / 8;
    for (uint64_t b = 0; b < packed_bytes; ++b)
      packed[b] = k::packed_byte(codes, elements, a.bits, b);
    std::free(codes);
    if (first != k::kNoFailure) *out_outcome = 1 + static_cast<int32_t>(first & 1u);
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_dequantize(
    const kvc_cuda_dequantize_args* args, char* message, size_t capacity) {
  return guarded(message, capacity, [&] {
    require(args != nullptr, "args must not be NULL");
    const kvc_cuda_dequantize_args& a = *args;
    require_dtype(a.output_dtype);
    const uint64_t elements = uint64_t{a.heads} * a.tokens * a.head_dim;
    if (elements == 0) return;
    ++counters[kDequantize];
    const k::QuantShape s{a.heads, a.tokens, a.head_dim, a.bits, a.group_size, a.side};
    const k::DequantTarget out{host(a.output, "output"), a.output_dtype, a.head_stride,
                               a.token_stride};
    const uint8_t* codes = host(a.codes, "codes");
    const void* scales = host(a.scales, "scales");
    const void* zeros = host(a.zeros, "zeros");
    for (uint64_t e = 0; e < elements; ++e) {
      k::dequantize_item(s, a.axis == 0, codes, scales, zeros, out, e);
    }
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_shuffle_bytes(
    const void* src, uint64_t n, uint32_t width, void* dst, int32_t is_unshuffle, void* /*stream*/,
    char* message, size_t capacity) {
  return guarded(message, capacity, [&] {
    require(width >= 1 && width <= 8, "width");
    if (n == 0) return;
    ++counters[kShuffle];
    const auto* in = host(static_cast<const uint8_t*>(src), "src");
    auto* out = host(static_cast<uint8_t*>(dst), "dst");
    for (uint64_t j = 0; j < n * width; ++j) {
      if (is_unshuffle != 0) {
        out[k::shuffle_source(j, n, width)] = in[j];
      } else {
        out[j] = in[k::shuffle_source(j, n, width)];
      }
    }
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_gather_rows(
    const void* input, uint64_t head_stride, uint64_t token_stride, int32_t dtype, uint32_t heads,
    uint32_t token_begin, uint32_t count, uint32_t head_dim, void* output, void* /*stream*/,
    char* message, size_t capacity) {
  return guarded(message, capacity, [&] {
    require_dtype(dtype);
    const uint64_t element_bytes = dtype == KVC_DTYPE_F32 ? 4 : 2;
    const uint64_t row_bytes = uint64_t{head_dim} * element_bytes;
    const uint64_t total = uint64_t{heads} * count * row_bytes;
    if (total == 0) return;
    ++counters[kGather];
    const auto* in = host(static_cast<const uint8_t*>(input), "input");
    auto* out = host(static_cast<uint8_t*>(output), "output");
    for (uint64_t j = 0; j < total; ++j) {
      out[j] = in[k::gather_source(j, head_stride * element_bytes, token_stride * element_bytes,
                                   token_begin, count, row_bytes)];
    }
  });
}

// cuSOLVER, cuBLAS and the attention mass have no emulation: compress and decompress do not call
// them.
__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_symmetric_eigen(
    const float*, uint32_t, uint32_t, float*, float*, void*, char* message, size_t capacity) {
  return guarded(message, capacity, [] {
    throw Failure{KVC_ERR_DEVICE, "cuSOLVER is not emulated"};
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_attention_logits(
    const float*, const float*, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, float*, void*,
    char* message, size_t capacity) {
  return guarded(message, capacity, [] {
    throw Failure{KVC_ERR_DEVICE, "cuBLAS is not emulated"};
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_attention_mass(
    const float*, uint32_t, uint32_t, uint32_t, uint32_t, double*, void*, char* message,
    size_t capacity) {
  return guarded(message, capacity, [] {
    throw Failure{KVC_ERR_DEVICE, "attention mass is not emulated"};
  });
}

// Test hooks: calls of an entry point ("quantize", "dequantize", "gather_rows", "shuffle_bytes",
// "to_device", "to_host", "malloc", "free"; -1 for other names), and allocations not yet freed.
__attribute__((visibility("default"))) int64_t kvc_cuda_emulator_count(const char* name) {
  static const char* const names[kN] = {"quantize",  "dequantize", "gather_rows", "shuffle_bytes",
                                        "to_device", "to_host",    "malloc",      "free"};
  for (int i = 0; i < kN; ++i) {
    if (std::strcmp(name, names[i]) == 0) return static_cast<int64_t>(counters[i].load());
  }
  return -1;
}

__attribute__((visibility("default"))) int64_t kvc_cuda_emulator_live_allocations(void) {
  return live_allocations.load();
}

}  // extern "C"
