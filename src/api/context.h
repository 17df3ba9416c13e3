// context.h: struct kvc_context: the backend, reusable codec state, the last error message and
// the attached statistics.
#pragma once

#include <kvc/kvc_tools.h>

#include <atomic>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "backend/cuda_device_backend.h"
#include "codecs/cache_codec.h"

struct kvc_context {
  explicit kvc_context(const kvc::Backend& b) : backend(b), codec(b) {}
  // A KVC_DEVICE_CUDA context, which owns its device backend.
  explicit kvc_context(std::unique_ptr<kvc::CudaDeviceBackend> device)
      : device_backend(std::move(device)), backend(*device_backend), codec(backend) {}

  // The codec of the calls that take host memory on every context (validate, benchmark).
  kvc::CacheCodec& host_codec() {
    if (device_backend == nullptr) return codec;
    if (host_codec_ == nullptr) host_codec_ = std::make_unique<kvc::CacheCodec>(kvc::cpu_backend());
    return *host_codec_;
  }

  kvc_status set_error(kvc_status code, const char* message) noexcept {
    try {
      last_error = message;
    } catch (...) {
      last_error.clear();  // keep the status even when the message cannot be kept
    }
    return code;
  }
  kvc_status clear_error() noexcept {
    last_error.clear();
    return KVC_OK;
  }

  // Marks the context as inside a call; false (KVC_ERR_BUSY) when another call is running or
  // the context was freed.
  bool enter() noexcept {
    uint32_t idle = 0;
    return state_.compare_exchange_strong(idle, kBusy, std::memory_order_acquire);
  }
  // Ends the call that enter() began; deletes the context when kvc_context_free came meanwhile.
  void leave() noexcept {
    if (state_.fetch_and(~kBusy, std::memory_order_acq_rel) & kFreeRequested) delete this;
  }
  // kvc_context_free: deletes now, or lets the running call delete on leave().
  void release() noexcept {
    if (!(state_.fetch_or(kFreeRequested, std::memory_order_acq_rel) & kBusy)) delete this;
  }

  std::unique_ptr<kvc::CudaDeviceBackend> device_backend;  // CUDA contexts; before backend
  const kvc::Backend& backend;  // cache memory: host, or the device of device_backend
  kvc::CacheCodec codec;
  std::string last_error;
  kvc_stats* stats = nullptr;  // borrowed (kvc_context_set_stats); thread-safe itself

 private:
  static constexpr uint32_t kBusy = 1, kFreeRequested = 2;
  std::atomic<uint32_t> state_{0};
  std::unique_ptr<kvc::CacheCodec> host_codec_;
};
