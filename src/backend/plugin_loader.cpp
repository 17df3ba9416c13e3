// plugin_loader.cpp: finds and opens libkvc_cuda.so at run time; absent or unusable means no GPU.
#include "backend/plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <vector>

#include "backend/plugin_abi.h"

namespace kvc {
namespace {

std::string directory_of_this_library() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&cuda_plugin), &info) == 0 || info.dli_fname == nullptr) {
    return "";
  }
  const std::string path = info.dli_fname;
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "" : path.substr(0, slash + 1);
}

CudaPlugin load() {
  CudaPlugin plugin;
  std::vector<std::string> candidates;
  if (const char* forced = std::getenv("KVC_CUDA_PLUGIN"); forced != nullptr && *forced) {
    candidates.push_back(forced);
  } else {
    candidates.push_back(directory_of_this_library() + "libkvc_cuda.so.0");
    candidates.push_back("libkvc_cuda.so.0");
  }
  for (const std::string& path : candidates) {
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      const char* error = dlerror();
      plugin.why_not += path + ": " + (error ? error : "cannot be opened") + "; ";
      continue;
    }
    auto abi = reinterpret_cast<kvc_cuda_plugin_abi_version_fn>(
        dlsym(handle, "kvc_cuda_plugin_abi_version"));
    auto count = reinterpret_cast<kvc_cuda_plugin_device_count_fn>(
        dlsym(handle, "kvc_cuda_plugin_device_count"));
    auto quantize =
        reinterpret_cast<kvc_cuda_plugin_quantize_fn>(dlsym(handle, "kvc_cuda_plugin_quantize"));
    auto dequantize = reinterpret_cast<kvc_cuda_plugin_dequantize_fn>(
        dlsym(handle, "kvc_cuda_plugin_dequantize"));
    auto shuffle = reinterpret_cast<kvc_cuda_plugin_shuffle_bytes_fn>(
        dlsym(handle, "kvc_cuda_plugin_shuffle_bytes"));
    auto gather = reinterpret_cast<kvc_cuda_plugin_gather_rows_fn>(
        dlsym(handle, "kvc_cuda_plugin_gather_rows"));
    auto eigen = reinterpret_cast<kvc_cuda_plugin_symmetric_eigen_fn>(
        dlsym(handle, "kvc_cuda_plugin_symmetric_eigen"));
    auto logits = reinterpret_cast<kvc_cuda_plugin_attention_logits_fn>(
        dlsym(handle, "kvc_cuda_plugin_attention_logits"));
    if (abi == nullptr || count == nullptr || abi() != KVC_CUDA_PLUGIN_ABI_VERSION ||
        quantize == nullptr || dequantize == nullptr || shuffle == nullptr || gather == nullptr ||
        eigen == nullptr || logits == nullptr) {
      plugin.why_not += path + ": not a compatible kvc CUDA plugin; ";
      dlclose(handle);
      continue;
    }
    plugin.loaded = true;
    plugin.why_not.clear();
    plugin.device_count = count;
    plugin.quantize = quantize;
    plugin.dequantize = dequantize;
    plugin.shuffle_bytes = shuffle;
    plugin.gather_rows = gather;
    plugin.symmetric_eigen = eigen;
    plugin.attention_logits = logits;
    return plugin;  // kept open for the life of the process
  }
  return plugin;
}

}  // namespace

const CudaPlugin& cuda_plugin() {
  static const CudaPlugin plugin = load();
  return plugin;
}

}  // namespace kvc
