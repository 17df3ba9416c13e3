// memory_entry_points.cu: the plugin's device selection and memory entry points (allocate, free,
// copy, synchronize) that libkvc.so's CUDA contexts use around the kernels.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "backend/cuda/cuda_check.h"
#include "backend/plugin_abi.h"

extern "C" {

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_set_device(int32_t device,
                                                                          char* message,
                                                                          size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    kvc::cuda::require(device >= 0, "device " + std::to_string(device) + " is negative");
    KVC_CUDA_CHECK(cudaSetDevice(device));
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_malloc(uint64_t bytes, void** out,
                                                                      char* message,
                                                                      size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    kvc::cuda::require(out != nullptr, "out must not be NULL");
    *out = nullptr;
    if (bytes == 0) return;
    const cudaError_t rc = cudaMalloc(out, bytes);
    if (rc == cudaErrorMemoryAllocation) {
      cudaGetLastError();  // not sticky: clear it for the next call
      *out = nullptr;
      throw kvc::cuda::Failure(KVC_ERR_OUT_OF_MEMORY,
                               "cudaMalloc of " + std::to_string(bytes) + " bytes: out of memory");
    }
    KVC_CUDA_CHECK(rc);
  });
}

__attribute__((visibility("default"))) void kvc_cuda_plugin_free(void* device_pointer) {
  if (device_pointer != nullptr) cudaFree(device_pointer);
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_memcpy(void* dst, const void* src,
                                                                      uint64_t bytes, int32_t kind,
                                                                      void* stream, char* message,
                                                                      size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    kvc::cuda::require(kind == KVC_CUDA_COPY_HOST_TO_DEVICE ||
                           kind == KVC_CUDA_COPY_DEVICE_TO_HOST ||
                           kind == KVC_CUDA_COPY_DEVICE_TO_DEVICE,
                       "kind " + std::to_string(kind) + " is not a copy direction");
    if (bytes == 0) return;
    kvc::cuda::require(dst != nullptr && src != nullptr, "dst and src must not be NULL");
    const cudaMemcpyKind direction = kind == KVC_CUDA_COPY_HOST_TO_DEVICE ? cudaMemcpyHostToDevice
                                     : kind == KVC_CUDA_COPY_DEVICE_TO_HOST
                                         ? cudaMemcpyDeviceToHost
                                         : cudaMemcpyDeviceToDevice;
    KVC_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, direction, static_cast<cudaStream_t>(stream)));
  });
}

__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_synchronize(
    void* stream, char* message, size_t message_capacity) {
  return kvc::cuda::guarded(message, message_capacity, [&] {
    KVC_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(stream)));
  });
}

}  // extern "C"
