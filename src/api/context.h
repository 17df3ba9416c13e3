// context.h: struct kvc_context: the backend, reusable codec state, the last error message and
// the attached statistics.
#pragma once

#include <kvc/kvc.h>

#include <string>

#include "backend/backend.h"
#include "codecs/cache_codec.h"

struct kvc_context {
  explicit kvc_context(const kvc::Backend& b) : backend(b), codec(b) {}

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

  const kvc::Backend& backend;
  kvc::CacheCodec codec;
  std::string last_error;
  kvc_stats* stats = nullptr;  // borrowed (kvc_context_set_stats); thread-safe itself
};
