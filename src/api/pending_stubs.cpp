// pending_stubs.cpp: TEMPORARY stand-in for kvc_validate, which the selection branch implements;
// removed when it is merged. It only lets this branch link (it reports passed -1).
#include <kvc/kvc.h>

#include "api/context.h"
#include "api/guard.h"

extern "C" {

KVC_API kvc_status kvc_validate(kvc_context* ctx, const kvc_validate_params*, const kvc_adapter*,
                                const kvc_cache_shape*, const void*, const void*,
                                const kvc_query_shape*, const void*, const void*, size_t,
                                kvc_validation* out_validation) {
  return kvc::guarded(ctx, [&] {
    kvc::require(out_validation != nullptr, "out_validation is NULL");
    out_validation->passed = -1;
    out_validation->level = -1;
  });
}

}  // extern "C"
