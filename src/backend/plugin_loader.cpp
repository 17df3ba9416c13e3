// plugin_loader.cpp: finds and opens libkvc_cuda.so at run time; absent or unusable means no GPU.
#include "backend/plugin_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <string>
#include <type_traits>
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
    CudaPlugin found;
    bool complete = abi != nullptr && abi() == KVC_CUDA_PLUGIN_ABI_VERSION;
    // Each entry point by its exported name; a missing one makes the plugin unusable.
    auto bind = [&](auto& field, const char* symbol) {
      void* address = dlsym(handle, symbol);
      complete = complete && address != nullptr;
      field = reinterpret_cast<std::remove_reference_t<decltype(field)>>(address);
    };
    bind(found.device_count, "kvc_cuda_plugin_device_count");
    bind(found.set_device, "kvc_cuda_plugin_set_device");
    bind(found.malloc, "kvc_cuda_plugin_malloc");
    bind(found.free, "kvc_cuda_plugin_free");
    bind(found.memcpy, "kvc_cuda_plugin_memcpy");
    bind(found.synchronize, "kvc_cuda_plugin_synchronize");
    bind(found.quantize, "kvc_cuda_plugin_quantize");
    bind(found.dequantize, "kvc_cuda_plugin_dequantize");
    bind(found.shuffle_bytes, "kvc_cuda_plugin_shuffle_bytes");
    bind(found.gather_rows, "kvc_cuda_plugin_gather_rows");
    bind(found.symmetric_eigen, "kvc_cuda_plugin_symmetric_eigen");
    bind(found.attention_logits, "kvc_cuda_plugin_attention_logits");
    bind(found.attention_mass, "kvc_cuda_plugin_attention_mass");
    if (!complete) {
      plugin.why_not += path + ": not a compatible kvc CUDA plugin (ABI " +
                        std::to_string(KVC_CUDA_PLUGIN_ABI_VERSION) + "); ";
      dlclose(handle);
      continue;
    }
    found.loaded = true;
    plugin = found;
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
