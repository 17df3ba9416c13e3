// cuda_device_backend.h: the Backend of a KVC_DEVICE_CUDA context: caches in device memory,
// quantized by the plugin's kernels, with codes and side values copied to the host for the format.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "backend/plugin_loader.h"

namespace kvc {

// Device memory freed on destruction (move-only).
class DeviceAllocation {
 public:
  DeviceAllocation() = default;
  DeviceAllocation(const CudaPlugin* plugin, void* ptr) : plugin_(plugin), ptr_(ptr) {}
  ~DeviceAllocation() {
    if (plugin_ != nullptr) plugin_->free(ptr_);
  }
  DeviceAllocation(DeviceAllocation&& other) noexcept : plugin_(other.plugin_), ptr_(other.ptr_) {
    other.plugin_ = nullptr;
    other.ptr_ = nullptr;
  }
  DeviceAllocation& operator=(DeviceAllocation&& other) noexcept {
    std::swap(plugin_, other.plugin_);
    std::swap(ptr_, other.ptr_);
    return *this;
  }
  void* get() const { return ptr_; }

 private:
  const CudaPlugin* plugin_ = nullptr;
  void* ptr_ = nullptr;
};

class CudaDeviceBackend final : public Backend {
 public:
  // device: an index below plugin.device_count(); throws Error(KVC_ERR_DEVICE) when it fails.
  CudaDeviceBackend(const CudaPlugin& plugin, int32_t device);
  ~CudaDeviceBackend() override;
  CudaDeviceBackend(const CudaDeviceBackend&) = delete;
  CudaDeviceBackend& operator=(const CudaDeviceBackend&) = delete;

  // The cudaStream_t every call enqueues on (NULL: the default stream).
  void set_stream(void* stream) { stream_ = stream; }
  void* stream() const { return stream_; }

  // Device memory of this context's device, and a host-to-device copy that has landed on return.
  DeviceAllocation allocate(uint64_t bytes) const;
  void upload(void* dst, const void* src, uint64_t bytes) const;

  const char* name() const override { return "cuda"; }
  bool uses_device_memory() const override { return true; }
  QuantOutcome quantize(const QuantizeJob& job) const override;
  void dequantize(const DequantizeJob& job) const override;
  void gather_rows(const TensorView& input, uint32_t heads, uint32_t token_begin, uint32_t count,
                   uint32_t head_dim, unsigned char* out) const override;
  void store(const void* src, DType src_dtype, void* dst, DType dst_dtype, size_t n) const override;
  void finish() const override;
  void convert(const void* src, DType src_dtype, void* dst, DType dst_dtype,
               size_t n) const override;

 private:
  // Device memory reused across calls, grown on demand (a context is used by one thread at a
  // time, so const calls may resize it).
  struct Scratch {
    void* ptr = nullptr;
    uint64_t bytes = 0;
  };
  unsigned char* scratch(Scratch& s, uint64_t bytes) const;
  void check(int32_t status, const char* call) const;  // throws the plugin's failure
  void activate() const;                               // makes device_ current
  void copy(void* dst, const void* src, uint64_t bytes, int32_t kind) const;

  const CudaPlugin& plugin_;
  int32_t device_;
  void* stream_ = nullptr;
  mutable Scratch codes_, scales_, zeros_, rows_;
  mutable std::vector<unsigned char> converted_;  // host rows converted before a store
  mutable char message_[512] = {};
};

}  // namespace kvc
