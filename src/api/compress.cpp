// compress.cpp: C API section "Compress": parameters, bound and the compress calls.
#include <kvc/kvc.h>

#include <chrono>
#include <cstring>
#include <string>

#include "api/compress_settings.h"
#include "api/context.h"
#include "api/guard.h"
#include "api/query_view.h"
#include "api/stats_hooks.h"
#include "api/versioned_struct.h"
#include "codecs/cache_codec.h"
#include "eviction/attention_mass.h"
#include "metrics/size_figures.h"

namespace {

kvc_status run_compress(kvc_context* ctx, const kvc_compress_params* params,
                        const kvc::CacheView& view, const kvc::QueryView* queries, void* dst,
                        size_t dst_capacity, size_t* out_size, kvc_metrics* out_metrics,
                        std::chrono::steady_clock::time_point start) {
  const kvc::CompressSettings s = kvc::api::settings_from(params);
  kvc::require(out_size != nullptr, "out_size is NULL");
  kvc::require(dst != nullptr || dst_capacity == 0,
               "dst is NULL with a capacity of " + std::to_string(dst_capacity));
  if (queries != nullptr) {
    kvc::check_queries_fit(*queries, view.dims.num_kv_heads, view.dims.head_dim);
  }
  const kvc::CompressResult r =
      ctx->codec.compress(view, s, queries, static_cast<unsigned char*>(dst), dst_capacity);
  *out_size = r.blob_bytes;
  if (!r.fits) {
    throw kvc::Error(KVC_ERR_BUFFER_TOO_SMALL, "dst_capacity " + std::to_string(dst_capacity) +
                                                   " is too small: the blob needs " +
                                                   std::to_string(r.blob_bytes) + " bytes");
  }
  {
    kvc_metrics m{};
    m.struct_size = sizeof m;
    m.original_bytes = view.dims.total_bytes();
    m.compressed_bytes = r.blob_bytes;
    const kvc::SizeFigures f = kvc::size_figures(view.dims, r.blob_bytes);
    m.compression_ratio = f.compression_ratio;
    m.bandwidth_savings_percent = f.bandwidth_savings_percent;
    m.bits_per_element = f.bits_per_element;
    m.tokens_total = uint64_t{view.dims.num_tokens} * view.dims.num_layers;
    m.tokens_kept = r.tokens_kept;
    m.compress_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    m.attention_coverage = r.coverage;
    if (out_metrics != nullptr) kvc::write_versioned(out_metrics, m, "out_metrics");
    kvc::api::record_compress(ctx, s.model_name, m);
  }
  return KVC_OK;
}

}  // namespace

extern "C" {

KVC_API kvc_status kvc_compress_params_default(kvc_compress_params* params, uint32_t struct_size) {
  return kvc::fill_default(params, struct_size, kvc::api::compress_defaults());
}

KVC_API kvc_status kvc_cache_shape_default(kvc_cache_shape* shape, uint32_t struct_size) {
  kvc_cache_shape d{};
  d.struct_size = sizeof d;
  d.dtype = KVC_DTYPE_F16;
  return kvc::fill_default(shape, struct_size, d);
}

KVC_API size_t kvc_compress_bound(const kvc_compress_params* params, const kvc_cache_shape* shape) {
  size_t bound = 0;
  const kvc_status st = kvc::guarded_status([&] {
    kvc::require(shape != nullptr, "shape is NULL");
    const kvc::CacheDims dims = kvc::dims_from_shape(*shape);
    kvc::check_strides(*shape, dims);
    bound = kvc::compress_bound(kvc::api::settings_from(params), dims);
  });
  return st == KVC_OK ? bound : 0;
}

KVC_API kvc_status kvc_cache_shape_extent(const kvc_cache_shape* shape, size_t* out_tensor_bytes,
                                          size_t* out_layer_bytes) {
  return kvc::guarded_status([&] {
    kvc::require(shape != nullptr, "shape is NULL");
    const kvc::CacheExtent e = kvc::cache_extent(*shape);
    if (out_tensor_bytes != nullptr) *out_tensor_bytes = e.tensor_bytes;
    if (out_layer_bytes != nullptr) *out_layer_bytes = e.layer_bytes;
  });
}

KVC_API kvc_status kvc_compress(kvc_context* ctx, const kvc_compress_params* params,
                                const kvc_cache_shape* shape, const void* keys, size_t keys_size,
                                const void* values, size_t values_size, void* dst,
                                size_t dst_capacity, size_t* out_size, kvc_metrics* out_metrics) {
  const auto start = std::chrono::steady_clock::now();
  return kvc::guarded(ctx, [&] {
    kvc::require(shape != nullptr, "shape is NULL");
    run_compress(ctx, params, kvc::view_from_packed(*shape, keys, keys_size, values, values_size),
                 nullptr, dst, dst_capacity, out_size, out_metrics, start);
  });
}

KVC_API kvc_status kvc_compress_layers(kvc_context* ctx, const kvc_compress_params* params,
                                       const kvc_cache_shape* shape, uint32_t num_layer_pointers,
                                       const void* const* key_layers, const size_t* key_layer_sizes,
                                       const void* const* value_layers,
                                       const size_t* value_layer_sizes, void* dst,
                                       size_t dst_capacity, size_t* out_size,
                                       kvc_metrics* out_metrics) {
  const auto start = std::chrono::steady_clock::now();
  return kvc::guarded(ctx, [&] {
    kvc::require(shape != nullptr, "shape is NULL");
    run_compress(ctx, params,
                 kvc::view_from_layers(*shape, num_layer_pointers, key_layers, key_layer_sizes,
                                       value_layers, value_layer_sizes),
                 nullptr, dst, dst_capacity, out_size, out_metrics, start);
  });
}

KVC_API kvc_status kvc_query_shape_default(kvc_query_shape* shape, uint32_t struct_size) {
  kvc_query_shape d{};
  d.struct_size = sizeof d;
  d.dtype = KVC_DTYPE_F16;
  return kvc::fill_default(shape, struct_size, d);
}

KVC_API kvc_status kvc_query_shape_extent(const kvc_query_shape* query_shape, uint32_t num_layers,
                                          size_t* out_bytes) {
  return kvc::guarded_status([&] {
    kvc::require(out_bytes != nullptr, "out_bytes is NULL");
    *out_bytes = kvc::api::query_extent(query_shape, num_layers);
  });
}

KVC_API kvc_status kvc_compress_with_queries(kvc_context* ctx, const kvc_compress_params* params,
                                             const kvc_cache_shape* shape, const void* keys,
                                             size_t keys_size, const void* values,
                                             size_t values_size, const kvc_query_shape* query_shape,
                                             const void* queries, size_t queries_size, void* dst,
                                             size_t dst_capacity, size_t* out_size,
                                             kvc_metrics* out_metrics) {
  const auto start = std::chrono::steady_clock::now();
  return kvc::guarded(ctx, [&] {
    kvc::require(shape != nullptr, "shape is NULL");
    const kvc::CacheView view = kvc::view_from_packed(*shape, keys, keys_size, values, values_size);
    const kvc::QueryView q =
        kvc::api::query_view(query_shape, queries, queries_size, view.dims.num_layers);
    run_compress(ctx, params, view, q.present() ? &q : nullptr, dst, dst_capacity, out_size,
                 out_metrics, start);
  });
}

}  // extern "C"
