// guard.h: runs one C API body and turns any C++ exception into a kvc_status.
#pragma once

#include <kvc/kvc.h>

#include <new>
#include <string>

#include "api/context.h"
#include "core/error.h"

namespace kvc {

// Runs body as one call on ctx: KVC_ERR_BUSY when ctx is inside another call, else body's
// status with its message kept in ctx.
template <class Body>
kvc_status guarded(kvc_context* ctx, Body&& body) noexcept {
  if (ctx == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  if (!ctx->enter()) return KVC_ERR_BUSY;
  kvc_status status = KVC_OK;
  try {
    body();
    status = ctx->clear_error();
  } catch (const Error& e) {
    status = ctx->set_error(e.code(), e.what());
  } catch (const std::bad_alloc&) {
    status = ctx->set_error(KVC_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (...) {
    status = ctx->set_error(KVC_ERR_INTERNAL, "unexpected exception");
  }
  ctx->leave();
  return status;
}

// For calls without a context: the status alone, and the message in *message when given.
template <class Body>
kvc_status guarded_status(Body&& body, std::string* message = nullptr) noexcept {
  try {
    body();
    return KVC_OK;
  } catch (const Error& e) {
    if (message != nullptr) message->assign(e.what());
    return e.code();
  } catch (const std::bad_alloc&) {
    if (message != nullptr) message->clear();
    return KVC_ERR_OUT_OF_MEMORY;
  } catch (...) {
    if (message != nullptr) message->clear();
    return KVC_ERR_INTERNAL;
  }
}

}  // namespace kvc
