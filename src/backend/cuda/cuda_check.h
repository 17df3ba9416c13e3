// cuda_check.h: the one check macro for CUDA calls, and the C boundary that turns failures into
// a kvc_status plus message (the plugin does not link the core, so it has its own exception).
#pragma once

#include <kvc/kvc.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#include "kernels/kernels.h"

namespace kvc::cuda {

// A failure inside the plugin: a kvc_status and "<call>: <reason>".
class Failure : public std::runtime_error {
 public:
  Failure(int32_t status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  int32_t status() const { return status_; }

 private:
  int32_t status_;
};

inline void check_cuda(int code, const char* call) {
  if (code != 0) {
    throw Failure(KVC_ERR_DEVICE, std::string(call) + ": " + kvc::kernels::error_string(code));
  }
}

// cuSOLVER and cuBLAS return their own status enums; 0 is success in both.
inline void check_status(int code, const char* call, const char* library) {
  if (code != 0) {
    throw Failure(KVC_ERR_DEVICE,
                  std::string(call) + ": " + library + " status " + std::to_string(code));
  }
}

inline void require(bool condition, const std::string& message) {
  if (!condition) throw Failure(KVC_ERR_INVALID_ARGUMENT, message);
}

// Runs body; returns KVC_OK, or the failure's status with its message copied out.
template <class Body>
int32_t guarded(char* message, size_t message_capacity, Body&& body) noexcept {
  auto report = [&](int32_t status, const char* text) {
    if (message != nullptr && message_capacity > 0) {
      const size_t n = std::min(std::strlen(text), message_capacity - 1);
      std::memcpy(message, text, n);
      message[n] = '\0';
    }
    return status;
  };
  try {
    body();
    return report(KVC_OK, "");
  } catch (const Failure& e) {
    return report(e.status(), e.what());
  } catch (const std::bad_alloc&) {
    return report(KVC_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (...) {
    return report(KVC_ERR_INTERNAL, "unexpected exception in libkvc_cuda.so");
  }
}

}  // namespace kvc::cuda

// Every CUDA (cuSOLVER) call of the plugin goes through these: KVC_ERR_DEVICE "<call>: <reason>" on
// failure.
#define KVC_CUDA_CHECK(call) ::kvc::cuda::check_cuda(static_cast<int>(call), #call)
#define KVC_CUSOLVER_CHECK(call) \
  ::kvc::cuda::check_status(static_cast<int>(call), #call, "cuSOLVER")
#define KVC_CUBLAS_CHECK(call) ::kvc::cuda::check_status(static_cast<int>(call), #call, "cuBLAS")
