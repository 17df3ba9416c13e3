// fuzz_common.h: helpers shared by the fuzz targets: status checks and a context per process.
#pragma once

#include <kvc/kvc.h>

#include <cstdio>
#include <cstdlib>

namespace kvc_fuzz {

// Inputs may make a call fail, never crash: any status but a documented one is a bug.
inline void check_status(kvc_status status, const char* call, kvc_context* ctx) {
  switch (status) {
    case KVC_OK:
    case KVC_ERR_INVALID_ARGUMENT:
    case KVC_ERR_BUFFER_TOO_SMALL:
    case KVC_ERR_CORRUPT_DATA:
    case KVC_ERR_UNSUPPORTED_VERSION:
    case KVC_ERR_OUT_OF_MEMORY:
    case KVC_ERR_IO:
      return;
    default:
      std::fprintf(stderr, "%s returned %s: %s\n", call, kvc_status_name(status),
                   ctx ? kvc_context_last_error(ctx) : "");
      std::abort();
  }
}

// Stops the run with a message when an invariant of the API does not hold.
inline void expect(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// One context for the whole process (contexts are cheap, but this keeps runs fast).
inline kvc_context* context() {
  static kvc_context* ctx = [] {
    kvc_context* c = nullptr;
    if (kvc_context_create(nullptr, &c) != KVC_OK) std::abort();
    return c;
  }();
  return ctx;
}

}  // namespace kvc_fuzz
