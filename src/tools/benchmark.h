// benchmark.h: timed compress and decompress runs of one cache through a context's codec, with
// median and p99 times, throughput, size figures and the quality of the result.
#pragma once

#include <cstdint>

#include "backend/cuda_device_backend.h"
#include "codecs/cache_codec.h"
#include "core/cache_view.h"
#include "eviction/queries.h"
#include "metrics/size_figures.h"
#include "metrics/validation.h"

namespace kvc {

struct BenchmarkFigures {
  uint32_t iterations = 0;
  double compress_ms_median = 0, compress_ms_p99 = 0;
  double decompress_ms_median = 0, decompress_ms_p99 = 0;
  double compress_gb_per_s = 0, decompress_gb_per_s = 0;  // original bytes / median time
  uint64_t original_bytes = 0;
  uint64_t compressed_bytes = 0;
  SizeFigures size;
  uint64_t tokens_total = 0;  // summed over layers
  uint64_t tokens_kept = 0;   // summed over layers
  ValidationReport quality;   // the last blob validated with default thresholds
};

// What a benchmark runs on: the context's codec (of device when device is not null, else of
// host memory), and a host codec and backend for the validation of the result.
struct BenchmarkTarget {
  CacheCodec* codec = nullptr;
  const CudaDeviceBackend* device = nullptr;
  CacheCodec* host_codec = nullptr;
  const Backend* backend = nullptr;
};

// Compresses and decompresses cache (host memory spanning extent_bytes from its first layer)
// iterations times after one warm-up of each; on a device, from and into device copies made
// before the clock starts. progress(done, iterations) after each iteration (may be empty); the
// codec's own progress callback is silenced meanwhile and restored on every way out.
BenchmarkFigures run_benchmark(const BenchmarkTarget& target, const CacheView& cache,
                               uint64_t extent_bytes, const CompressSettings& settings,
                               const QueryView* queries, uint32_t iterations,
                               const CacheCodec::Progress& progress);

}  // namespace kvc
