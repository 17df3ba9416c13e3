// cache_file.cpp: C API section "Cache files": safetensors KV caches loaded into kvc_cache.
#include <kvc/kvc_tools.h>

#include <memory>
#include <string>

#include "api/context.h"
#include "api/guard.h"
#include "io/safetensors.h"

struct kvc_cache {
  kvc::io::KvCacheFile file;
};

struct kvc_query_file {
  kvc::io::QueryFile file;
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
  *out_shape = kvc::packed_shape(cache->file.dims);
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
                                  const void* keys, size_t keys_size, const void* values,
                                  size_t values_size, const char* model_name) {
  return kvc::guarded(ctx, [&] {
    kvc::require(path != nullptr, "path is NULL");
    kvc::require(shape != nullptr, "shape is NULL");
    kvc::io::save_kv_safetensors(
        path, kvc::view_from_packed(*shape, keys, keys_size, values, values_size),
        model_name ? model_name : "");
  });
}

KVC_API kvc_status kvc_query_file_load(kvc_context* ctx, const char* path,
                                       kvc_query_file** out_file) {
  if (out_file != nullptr) *out_file = nullptr;
  return kvc::guarded(ctx, [&] {
    kvc::require(path != nullptr, "path is NULL");
    kvc::require(out_file != nullptr, "out_file is NULL");
    auto file = std::make_unique<kvc_query_file>();
    file->file = kvc::io::load_query_safetensors(path);
    *out_file = file.release();
  });
}

KVC_API void kvc_query_file_free(kvc_query_file* file) { delete file; }

KVC_API kvc_status kvc_query_file_get_shape(const kvc_query_file* file, kvc_query_shape* out_shape,
                                            uint32_t* out_num_layers) {
  if (file == nullptr || out_shape == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  if (out_shape->struct_size > sizeof(kvc_query_shape)) return KVC_ERR_UNSUPPORTED_VERSION;
  if (out_shape->struct_size < sizeof(kvc_query_shape)) return KVC_ERR_INVALID_ARGUMENT;
  const kvc::io::QueryFile& q = file->file;
  kvc_query_shape s{};
  s.struct_size = sizeof s;
  s.num_query_heads = q.num_query_heads;
  s.num_queries = q.num_queries;
  s.head_dim = q.head_dim;
  s.dtype = static_cast<kvc_dtype>(q.dtype);
  s.per_layer = 1;
  *out_shape = s;
  if (out_num_layers != nullptr) *out_num_layers = q.num_layers;
  return KVC_OK;
}

KVC_API const void* kvc_query_file_data(const kvc_query_file* file) {
  return file ? file->file.data.data() : nullptr;
}

}  // extern "C"
