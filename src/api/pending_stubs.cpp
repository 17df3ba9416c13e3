// pending_stubs.cpp: TEMPORARY stand-ins for calls the selection branch implements; removed when
// it is merged. They only let this branch link.
#include <kvc/kvc.h>

#include <cstring>

#include "api/context.h"
#include "api/guard.h"

extern "C" {

KVC_API kvc_status kvc_compress_with_queries(kvc_context* ctx, const kvc_compress_params* params,
                                             const kvc_cache_shape* shape, const void* keys,
                                             const void* values, const kvc_query_shape* query_shape,
                                             const void* queries, void* dst, size_t dst_capacity,
                                             size_t* out_size, kvc_metrics* out_metrics) {
  if (query_shape != nullptr || queries != nullptr) {
    return kvc::guarded(ctx, [] { throw kvc::Error(KVC_ERR_INTERNAL, "queries: not yet"); });
  }
  return kvc_compress(ctx, params, shape, keys, values, dst, dst_capacity, out_size, out_metrics);
}

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

extern "C" KVC_API kvc_status kvc_query_shape_default(kvc_query_shape* shape,
                                                      uint32_t struct_size) {
  if (shape == nullptr || struct_size < 8 || struct_size > sizeof *shape) {
    return KVC_ERR_INVALID_ARGUMENT;
  }
  kvc_query_shape d{};
  d.struct_size = struct_size;
  d.dtype = KVC_DTYPE_F16;
  std::memcpy(shape, &d, struct_size);
  return KVC_OK;
}
