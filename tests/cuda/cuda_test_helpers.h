// cuda_test_helpers.h: device buffers, the skip rule and the plugin handle for tests/cuda.
#pragma once

#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <kvc/kvc.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "backend/plugin_loader.h"

namespace kvc::cuda_test {

// The plugin this build made (KVC_CUDA_PLUGIN_PATH), unless KVC_CUDA_PLUGIN names another.
inline const CudaPlugin& plugin() {
  setenv("KVC_CUDA_PLUGIN", KVC_CUDA_PLUGIN_PATH, 0);
  return cuda_plugin();
}

// Skips the calling test without a usable GPU; else asserts the plugin is loaded.
#define KVC_REQUIRE_GPU()                                                                    \
  do {                                                                                       \
    if (kvc_device_count(KVC_DEVICE_CUDA) == 0) {                                            \
      GTEST_SKIP() << "no CUDA device (kvc_device_count(KVC_DEVICE_CUDA) == 0): GPU-vs-CPU " \
                      "parity runs only on a machine with a GPU; see kernels/README.md";     \
    }                                                                                        \
    ASSERT_TRUE(::kvc::cuda_test::plugin().loaded) << ::kvc::cuda_test::plugin().why_not;    \
  } while (0)

// Device memory holding a copy of host bytes (or zeros), freed on scope exit.
class DeviceBytes {
 public:
  explicit DeviceBytes(size_t bytes) : size_(bytes) {
    if (cudaMalloc(&ptr_, bytes ? bytes : 1) != cudaSuccess) throw std::bad_alloc();
    cudaMemset(ptr_, 0xA5, bytes ? bytes : 1);
  }
  explicit DeviceBytes(const std::vector<unsigned char>& host) : DeviceBytes(host.size()) {
    cudaMemcpy(ptr_, host.data(), host.size(), cudaMemcpyHostToDevice);
  }
  ~DeviceBytes() { cudaFree(ptr_); }
  DeviceBytes(const DeviceBytes&) = delete;
  DeviceBytes& operator=(const DeviceBytes&) = delete;
  void* get() const { return ptr_; }
  std::vector<unsigned char> download() const {
    std::vector<unsigned char> host(size_);
    cudaMemcpy(host.data(), ptr_, size_, cudaMemcpyDeviceToHost);
    return host;
  }

 private:
  void* ptr_ = nullptr;
  size_t size_ = 0;
};

}  // namespace kvc::cuda_test
