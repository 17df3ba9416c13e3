// benchmark.cpp: C API kvc_benchmark: timed compress and decompress calls through the public
// entry points, with median and p99 times, throughput, ratio and the quality of the result.
#include <kvc/kvc_tools.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "api/context.h"
#include "api/guard.h"
#include "api/versioned_struct.h"
#include "backend/cuda_device_backend.h"
#include "core/cache_view.h"

namespace {

using Clock = std::chrono::steady_clock;

double elapsed_ms(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Nearest rank: the smallest time at least share of the samples are not above.
double percentile(std::vector<double> samples, double share) {
  std::sort(samples.begin(), samples.end());
  const auto rank = static_cast<size_t>(std::ceil(share * static_cast<double>(samples.size())));
  return samples[std::max<size_t>(rank, 1) - 1];
}

double median(const std::vector<double>& samples) { return percentile(samples, 0.5); }

// A failing inner call: its status, with the message it left in ctx.
void check(kvc_context* ctx, kvc_status status, const char* call) {
  if (status != KVC_OK) throw kvc::Error(status, std::string(call) + ": " + ctx->last_error);
}

// Silences the context's progress callback for the calls inside the benchmark (they would report
// their chunks) and puts it back on every way out.
class ProgressRoute {
 public:
  explicit ProgressRoute(kvc_context* ctx) : ctx_(ctx), saved_(ctx->codec.progress()) {
    ctx_->codec.set_progress(nullptr);
  }
  ~ProgressRoute() { ctx_->codec.set_progress(saved_); }
  ProgressRoute(const ProgressRoute&) = delete;
  ProgressRoute& operator=(const ProgressRoute&) = delete;
  void report(uint64_t done, uint64_t total) const {
    if (saved_) saved_(done, total);
  }

 private:
  kvc_context* ctx_;
  kvc::CacheCodec::Progress saved_;
};

}  // namespace

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
    kvc::require(iterations >= 1, "iterations 0 is not at least 1");
    kvc::require((query_shape == nullptr) == (queries == nullptr),
                 "query_shape and queries must be NULL together");
    const kvc::CacheView host_view =
        kvc::view_from_packed(*shape, keys, keys_size, values, values_size);
    const kvc::CacheDims dims = host_view.dims;
    const uint64_t extent = kvc::cache_extent(*shape).tensor_bytes;
    size_t bound = kvc_compress_bound(params, shape);
    if (bound == 0) {  // invalid params or shape: a call without a buffer names the field
      const kvc_status st =
          kvc_compress_with_queries(ctx, params, shape, keys, keys_size, values, values_size,
                                    query_shape, queries, queries_size, nullptr, 0, &bound, nullptr);
      if (st != KVC_ERR_BUFFER_TOO_SMALL) check(ctx, st, "kvc_compress_with_queries");
    }
    std::vector<unsigned char> blob(bound);
    const size_t tensor_capacity = dims.num_layers * dims.bytes_per_tensor();
    // On a CUDA context the timed calls compress from and decompress into device memory: the
    // caller's host cache is copied there once, before the clock starts.
    const bool device = ctx->device_backend != nullptr;
    std::vector<unsigned char> decoded_keys(device ? 0 : tensor_capacity),
        decoded_values(device ? 0 : tensor_capacity);
    const void* timed_keys = keys;
    const void* timed_values = values;
    size_t timed_keys_size = keys_size;
    size_t timed_values_size = values_size;
    void* decoded_keys_at = decoded_keys.data();
    void* decoded_values_at = decoded_values.data();
    kvc::DeviceAllocation device_buffers[4];
    if (device) {
      const kvc::CudaDeviceBackend& gpu = *ctx->device_backend;
      for (int i = 0; i < 4; ++i)
        device_buffers[i] = gpu.allocate(i < 2 ? extent : tensor_capacity);
      gpu.upload(device_buffers[0].get(), keys, extent);
      gpu.upload(device_buffers[1].get(), values, extent);
      timed_keys = device_buffers[0].get();
      timed_values = device_buffers[1].get();
      timed_keys_size = timed_values_size = extent;
      decoded_keys_at = device_buffers[2].get();
      decoded_values_at = device_buffers[3].get();
    }

    // The context's stats see only the caller's own calls, not the benchmark's.
    kvc_stats* const attached_stats = ctx->stats;
    ctx->stats = nullptr;
    struct StatsBack {
      kvc_context* ctx;
      kvc_stats* stats;
      ~StatsBack() { ctx->stats = stats; }
    } stats_back{ctx, attached_stats};
    const ProgressRoute progress(ctx);

    size_t blob_bytes = 0;
    kvc_metrics metrics{};
    auto compress_once = [&] {
      metrics.struct_size = sizeof metrics;
      check(ctx,
            kvc_compress_with_queries(ctx, params, shape, timed_keys, timed_keys_size,
                                      timed_values, timed_values_size, query_shape, queries,
                                      queries_size, blob.data(), blob.size(), &blob_bytes,
                                      &metrics),
            "kvc_compress_with_queries");
    };
    auto decompress_once = [&] {
      size_t tensor_bytes = 0;
      check(ctx,
            kvc_decompress(ctx, nullptr, blob.data(), blob_bytes, decoded_keys_at,
                           decoded_values_at, tensor_capacity, &tensor_bytes),
            "kvc_decompress");
    };

    compress_once();  // warm-up: caches, allocations, zstd contexts
    decompress_once();
    std::vector<double> compress_ms, decompress_ms;
    compress_ms.reserve(iterations);
    decompress_ms.reserve(iterations);
    for (uint32_t i = 0; i < iterations; ++i) {
      auto start = Clock::now();
      compress_once();
      compress_ms.push_back(elapsed_ms(start));
      start = Clock::now();
      decompress_once();
      decompress_ms.push_back(elapsed_ms(start));
      progress.report(i + 1, iterations);
    }

    kvc_blob_info info{};
    info.struct_size = sizeof info;
    check(ctx, kvc_inspect(ctx, blob.data(), blob_bytes, &info), "kvc_inspect");
    kvc_validation validation{};
    validation.struct_size = sizeof validation;
    check(ctx,
          kvc_validate(ctx, nullptr, nullptr, shape, keys, keys_size, values, values_size,
                       query_shape, queries, queries_size, blob.data(), blob_bytes, &validation),
          "kvc_validate");

    kvc_benchmark_result r{};
    r.struct_size = sizeof r;
    r.iterations = iterations;
    r.compress_ms_median = median(compress_ms);
    r.compress_ms_p99 = percentile(compress_ms, 0.99);
    r.decompress_ms_median = median(decompress_ms);
    r.decompress_ms_p99 = percentile(decompress_ms, 0.99);
    r.original_bytes = dims.total_bytes();
    r.compressed_bytes = blob_bytes;
    const double original = static_cast<double>(r.original_bytes);
    r.compress_gb_per_s = original / (r.compress_ms_median * 1e6);
    r.decompress_gb_per_s = original / (r.decompress_ms_median * 1e6);
    r.compression_ratio = metrics.compression_ratio;
    r.bandwidth_savings_percent = metrics.bandwidth_savings_percent;
    r.bits_per_element = metrics.bits_per_element;
    r.tokens_total = uint64_t{dims.num_tokens} * dims.num_layers;
    r.tokens_kept = info.tokens_kept;
    r.quality_passed = validation.passed;
    r.quality_level = validation.level;
    kvc::write_versioned(out_result, r, "out_result");
  });
}

}  // extern "C"
