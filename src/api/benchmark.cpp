// benchmark.cpp: C API kvc_benchmark: translates the call to kvc::run_benchmark and its figures
// back to kvc_benchmark_result.
#include "tools/benchmark.h"

#include <kvc/kvc_tools.h>

#include "api/compress_settings.h"
#include "api/context.h"
#include "api/guard.h"
#include "api/query_view.h"
#include "api/versioned_struct.h"

extern "C" {

KVC_API kvc_status kvc_benchmark(kvc_context* ctx, const kvc_compress_params* params,
                                 const kvc_cache_shape* shape, const void* keys, size_t keys_size,
                                 const void* values, size_t values_size,
                                 const kvc_query_shape* query_shape, const void* queries,
                                 size_t queries_size, uint32_t iterations,
                                 kvc_benchmark_result* out_result) {
  return kvc::guarded(ctx, [&] {
    kvc::require(shape != nullptr, "shape is NULL");
    kvc::require(out_result != nullptr, "out_result is NULL");
    const kvc::CompressSettings settings = kvc::api::settings_from(params);
    const kvc::CacheView cache =
        kvc::view_from_packed(*shape, keys, keys_size, values, values_size);
    const kvc::QueryView q =
        kvc::api::query_view(query_shape, queries, queries_size, cache.dims.num_layers);
    kvc::BenchmarkTarget target;
    target.codec = &ctx->codec;
    target.device = ctx->device_backend.get();
    target.host_codec = &ctx->host_codec();
    target.backend = &ctx->backend;
    const kvc::CacheCodec::Progress progress = ctx->codec.progress();  // the benchmark silences it
    const kvc::BenchmarkFigures f =
        kvc::run_benchmark(target, cache, kvc::cache_extent(*shape).tensor_bytes, settings,
                           q.present() ? &q : nullptr, iterations, progress);

    kvc_benchmark_result r{};
    r.struct_size = sizeof r;
    r.iterations = f.iterations;
    r.compress_ms_median = f.compress_ms_median;
    r.compress_ms_p99 = f.compress_ms_p99;
    r.decompress_ms_median = f.decompress_ms_median;
    r.decompress_ms_p99 = f.decompress_ms_p99;
    r.compress_gb_per_s = f.compress_gb_per_s;
    r.decompress_gb_per_s = f.decompress_gb_per_s;
    r.compression_ratio = f.size.compression_ratio;
    r.bandwidth_savings_percent = f.size.bandwidth_savings_percent;
    r.bits_per_element = f.size.bits_per_element;
    r.original_bytes = f.original_bytes;
    r.compressed_bytes = f.compressed_bytes;
    r.tokens_total = f.tokens_total;
    r.tokens_kept = f.tokens_kept;
    r.quality_passed = f.quality.violations == 0 ? 1 : 0;
    r.quality_level = static_cast<int32_t>(f.quality.level);
    kvc::write_versioned(out_result, r, "out_result");
  });
}

}  // extern "C"
