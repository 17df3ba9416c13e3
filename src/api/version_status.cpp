// version_status.cpp: C API section "Version" and "Status": version numbers, status names, devices.
#include <kvc/kvc.h>

#include "backend/plugin_loader.h"
#include "core/version.h"

extern "C" {

KVC_API uint32_t kvc_version_number(void) { return KVC_VERSION_NUMBER; }

KVC_API const char* kvc_version_string(void) { return kvc::kVersionString; }

KVC_API const char* kvc_status_name(kvc_status status) {
  switch (status) {
    case KVC_OK:
      return "KVC_OK";
    case KVC_ERR_INVALID_ARGUMENT:
      return "KVC_ERR_INVALID_ARGUMENT";
    case KVC_ERR_BUFFER_TOO_SMALL:
      return "KVC_ERR_BUFFER_TOO_SMALL";
    case KVC_ERR_CORRUPT_DATA:
      return "KVC_ERR_CORRUPT_DATA";
    case KVC_ERR_UNSUPPORTED_VERSION:
      return "KVC_ERR_UNSUPPORTED_VERSION";
    case KVC_ERR_OUT_OF_MEMORY:
      return "KVC_ERR_OUT_OF_MEMORY";
    case KVC_ERR_DEVICE:
      return "KVC_ERR_DEVICE";
    case KVC_ERR_IO:
      return "KVC_ERR_IO";
    case KVC_ERR_BUSY:
      return "KVC_ERR_BUSY";
    case KVC_ERR_INTERNAL:
      return "KVC_ERR_INTERNAL";
    default:
      return "KVC_ERR_UNKNOWN";
  }
}

KVC_API int32_t kvc_device_count(kvc_device device) {
  if (device == KVC_DEVICE_CPU) return 1;
  if (device != KVC_DEVICE_CUDA) return 0;
  try {
    const kvc::CudaPlugin& plugin = kvc::cuda_plugin();
    return plugin.loaded ? plugin.device_count() : 0;
  } catch (...) {
    return 0;
  }
}

}  // extern "C"
