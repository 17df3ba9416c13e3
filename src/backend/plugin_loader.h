// plugin_loader.h: finds and opens libkvc_cuda.so at run time; absent or unusable means no GPU.
#pragma once

#include <cstdint>
#include <string>

#include "backend/plugin_abi.h"

namespace kvc {

struct CudaPlugin {
  bool loaded = false;
  std::string why_not;  // when not loaded: what was tried and why it failed
  int32_t (*device_count)() = nullptr;
  // Device selection and memory; all set when loaded.
  kvc_cuda_plugin_set_device_fn set_device = nullptr;
  kvc_cuda_plugin_malloc_fn malloc = nullptr;
  kvc_cuda_plugin_free_fn free = nullptr;
  kvc_cuda_plugin_memcpy_fn memcpy = nullptr;
  kvc_cuda_plugin_synchronize_fn synchronize = nullptr;
  // Kernels on device memory (plugin_abi.h); all set when loaded.
  kvc_cuda_plugin_quantize_fn quantize = nullptr;
  kvc_cuda_plugin_dequantize_fn dequantize = nullptr;
  kvc_cuda_plugin_shuffle_bytes_fn shuffle_bytes = nullptr;
  kvc_cuda_plugin_gather_rows_fn gather_rows = nullptr;
  kvc_cuda_plugin_symmetric_eigen_fn symmetric_eigen = nullptr;
  kvc_cuda_plugin_attention_logits_fn attention_logits = nullptr;
  kvc_cuda_plugin_attention_mass_fn attention_mass = nullptr;
};

// Loads the plugin once (thread-safe); later calls return the same result. Looks next to
// libkvc.so first, then on the library search path; KVC_CUDA_PLUGIN overrides the path.
const CudaPlugin& cuda_plugin();

}  // namespace kvc
