// context.cpp: C API section "Context": creation, release and the last error message.
#include "api/context.h"

#include <kvc/kvc.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "api/guard.h"
#include "api/versioned_struct.h"
#include "backend/plugin_loader.h"

namespace {

kvc_context_params context_defaults() {
  kvc_context_params p{};
  p.struct_size = sizeof p;
  p.device = KVC_DEVICE_CPU;
  p.device_index = 0;
  return p;
}

}  // namespace

extern "C" {

KVC_API kvc_status kvc_context_params_default(kvc_context_params* params, uint32_t struct_size) {
  return kvc::fill_default(params, struct_size, context_defaults());
}

KVC_API kvc_status kvc_context_create(const kvc_context_params* params, kvc_context** out_ctx,
                                      char* out_error, size_t error_capacity) {
  // The reason of a failure, cut to fit error_capacity; "" when it cannot be kept (out of memory).
  auto report = [&](kvc_status status, const char* message) {
    if (out_error != nullptr && error_capacity > 0) {
      const size_t n = std::min(std::strlen(message), error_capacity - 1);
      std::memcpy(out_error, message, n);
      out_error[n] = '\0';
    }
    return status;
  };
  if (out_ctx == nullptr) return report(KVC_ERR_INVALID_ARGUMENT, "out_ctx is NULL");
  *out_ctx = nullptr;
  std::string message;
  const kvc_status status = kvc::guarded_status(
      [&] {
        const kvc_context_params p =
            kvc::read_versioned(params, context_defaults(), "kvc_context_params");
        if (p.device == KVC_DEVICE_CUDA) {
          const kvc::CudaPlugin& plugin = kvc::cuda_plugin();
          if (!plugin.loaded) {
            throw kvc::Error(KVC_ERR_DEVICE, "no CUDA backend: " + plugin.why_not);
          }
          kvc::require(p.device_index >= 0,
                       "device_index " + std::to_string(p.device_index) + " is negative");
          if (plugin.device_count() <= p.device_index) {
            throw kvc::Error(KVC_ERR_DEVICE, "no CUDA device " + std::to_string(p.device_index) +
                                                 " (found " +
                                                 std::to_string(plugin.device_count()) + ")");
          }
          *out_ctx =
              new kvc_context(std::make_unique<kvc::CudaDeviceBackend>(plugin, p.device_index));
          return;
        }
        kvc::require(p.device == KVC_DEVICE_CPU, "device " + std::to_string(p.device) +
                                                     " is not KVC_DEVICE_CPU or KVC_DEVICE_CUDA");
        kvc::require(p.device_index == 0, "device_index " + std::to_string(p.device_index) +
                                              " does not exist (one CPU device)");
        *out_ctx = new kvc_context(kvc::cpu_backend());
      },
      &message);
  if (status == KVC_ERR_OUT_OF_MEMORY && message.empty()) return report(status, "out of memory");
  return report(status, message.c_str());
}

KVC_API void kvc_context_free(kvc_context* ctx) {
  if (ctx != nullptr) ctx->release();
}

KVC_API kvc_status kvc_context_set_progress(kvc_context* ctx, kvc_progress_fn callback,
                                            void* user_data) {
  return kvc::guarded(ctx, [&] {
    ctx->codec.set_progress([callback, user_data](uint64_t done, uint64_t total) {
      if (callback != nullptr) callback(user_data, done, total);
    });
  });
}

KVC_API kvc_status kvc_context_set_stream(kvc_context* ctx, void* stream) {
  return kvc::guarded(ctx, [&] {
    if (ctx->device_backend == nullptr) {
      kvc::require(stream == nullptr, "a stream was given to a KVC_DEVICE_CPU context");
      return;
    }
    ctx->device_backend->set_stream(stream);
  });
}

KVC_API const char* kvc_context_last_error(const kvc_context* ctx) {
  if (ctx == nullptr) return "ctx is NULL";
  return ctx->last_error.c_str();
}

}  // extern "C"
