// cuda_plugin.cu: entry points of libkvc_cuda.so, the CUDA backend plugin loaded by libkvc.so.
#include <cuda_runtime.h>

#include <cstdint>

#include "backend/plugin_abi.h"

extern "C" {

__attribute__((visibility("default"))) uint32_t kvc_cuda_plugin_abi_version(void) {
  return KVC_CUDA_PLUGIN_ABI_VERSION;
}

// Number of CUDA devices usable through the driver; 0 when there is no driver or no device.
__attribute__((visibility("default"))) int32_t kvc_cuda_plugin_device_count(void) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky error for later calls
    return 0;
  }
  return count;
}

}  // extern "C"
