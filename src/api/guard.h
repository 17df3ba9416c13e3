// guard.h: runs one C API body and turns any C++ exception into a kvc_status.
#pragma once

#include <kvc/kvc.h>

#include <new>

#include "api/context.h"
#include "core/error.h"

namespace kvc {

template <class Body>
kvc_status guarded(kvc_context* ctx, Body&& body) noexcept {
  try {
    if (ctx == nullptr) return KVC_ERR_INVALID_ARGUMENT;
    body();
    return ctx->clear_error();
  } catch (const Error& e) {
    return ctx->set_error(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    return ctx->set_error(KVC_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (...) {
    return ctx->set_error(KVC_ERR_INTERNAL, "unexpected exception");
  }
}

// For calls without a context: the status alone.
template <class Body>
kvc_status guarded_status(Body&& body) noexcept {
  try {
    body();
    return KVC_OK;
  } catch (const Error& e) {
    return e.code();
  } catch (const std::bad_alloc&) {
    return KVC_ERR_OUT_OF_MEMORY;
  } catch (...) {
    return KVC_ERR_INTERNAL;
  }
}

}  // namespace kvc
