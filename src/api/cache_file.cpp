// cache_file.cpp: C API section "Cache files": safetensors KV caches loaded into kvc_cache.
#include <kvc/kvc.h>

#include <memory>
#include <string>

#include "api/context.h"
#include "api/guard.h"
#include "io/safetensors.h"

struct kvc_cache {
  kvc::io::KvCacheFile file;
};

extern "C" {

KVC_API kvc_status kvc_cache_load(kvc_context* ctx, const char* path, kvc_cache** out_cache) {
  if (out_cache != nullptr) *out_cache = nullptr;
  return kvc::guarded(ctx, [&] {
    kvc::require(path != nullptr, "path is NULL");
    kvc::require(out_cache != nullptr, "out_cache is NULL");
    auto cache = std::make_unique<kvc_cache>();
    cache->file = kvc::io::load_kv_safetensors(path);
    *out_cache = cache.release();
  });
}

KVC_API void kvc_cache_free(kvc_cache* cache) { delete cache; }

KVC_API kvc_status kvc_cache_get_shape(const kvc_cache* cache, kvc_cache_shape* out_shape) {
  if (cache == nullptr || out_shape == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  if (out_shape->struct_size > sizeof(kvc_cache_shape)) return KVC_ERR_UNSUPPORTED_VERSION;
  if (out_shape->struct_size < sizeof(kvc_cache_shape)) return KVC_ERR_INVALID_ARGUMENT;
  const kvc::CacheDims& d = cache->file.dims;
  kvc_cache_shape s{};
  s.struct_size = sizeof s;
  s.num_layers = d.num_layers;
  s.num_kv_heads = d.num_kv_heads;
  s.num_tokens = d.num_tokens;
  s.head_dim = d.head_dim;
  s.dtype = static_cast<kvc_dtype>(d.dtype);
  *out_shape = s;
  return KVC_OK;
}

KVC_API const void* kvc_cache_keys(const kvc_cache* cache) {
  return cache ? cache->file.keys.data() : nullptr;
}

KVC_API const void* kvc_cache_values(const kvc_cache* cache) {
  return cache ? cache->file.values.data() : nullptr;
}

KVC_API const char* kvc_cache_model_name(const kvc_cache* cache) {
  return cache ? cache->file.model_name.c_str() : "";
}

KVC_API kvc_status kvc_cache_save(kvc_context* ctx, const char* path, const kvc_cache_shape* shape,
                                  const void* keys, const void* values, const char* model_name) {
  return kvc::guarded(ctx, [&] {
    kvc::require(path != nullptr, "path is NULL");
    kvc::require(shape != nullptr, "shape is NULL");
    kvc::io::save_kv_safetensors(path, kvc::view_from_packed(*shape, keys, values),
                                 model_name ? model_name : "");
  });
}

}  // extern "C"
