// benchmark.cpp: timed compress and decompress runs of one cache through a context's codec, with
// median and p99 times, throughput, size figures and the quality of the result.
#include "tools/benchmark.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "eviction/attention_mass.h"
#include "tools/blob_validation.h"

namespace kvc {
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

// Silences a codec's progress callback (its calls would report their chunks) and puts it back on
// every way out.
class SilencedProgress {
 public:
  explicit SilencedProgress(CacheCodec& codec) : codec_(codec), saved_(codec.progress()) {
    codec_.set_progress(nullptr);
  }
  ~SilencedProgress() { codec_.set_progress(saved_); }
  SilencedProgress(const SilencedProgress&) = delete;
  SilencedProgress& operator=(const SilencedProgress&) = delete;

 private:
  CacheCodec& codec_;
  CacheCodec::Progress saved_;
};

// The same cache at another base address: each layer at its offset from the first.
CacheView rebased(const CacheView& cache, const void* key_base, const void* value_base) {
  CacheView v = cache;
  const auto* k0 = static_cast<const unsigned char*>(cache.keys.front());
  const auto* v0 = static_cast<const unsigned char*>(cache.values.front());
  for (size_t l = 0; l < v.keys.size(); ++l) {
    v.keys[l] = static_cast<const unsigned char*>(key_base) +
                (static_cast<const unsigned char*>(cache.keys[l]) - k0);
    v.values[l] = static_cast<const unsigned char*>(value_base) +
                  (static_cast<const unsigned char*>(cache.values[l]) - v0);
  }
  return v;
}

}  // namespace

BenchmarkFigures run_benchmark(const BenchmarkTarget& target, const CacheView& cache,
                               uint64_t extent_bytes, const CompressSettings& settings,
                               const QueryView* queries, uint32_t iterations,
                               const CacheCodec::Progress& progress) {
  require(iterations >= 1, "iterations 0 is not at least 1");
  validate(settings);
  if (queries != nullptr) check_queries_fit(*queries, cache.dims.num_kv_heads, cache.dims.head_dim);
  const CacheDims& dims = cache.dims;
  CacheCodec& codec = *target.codec;
  std::vector<unsigned char> blob(compress_bound(settings, dims));
  const uint64_t tensor_capacity = dims.num_layers * dims.bytes_per_tensor();

  // On a device the timed calls compress from and decompress into device memory: the cache is
  // copied there once, before the clock starts.
  CacheView timed = cache;
  std::vector<unsigned char> decoded_keys, decoded_values;
  void* keys_out = nullptr;
  void* values_out = nullptr;
  DeviceAllocation device_buffers[4];
  if (target.device != nullptr) {
    for (int i = 0; i < 4; ++i) {
      device_buffers[i] = target.device->allocate(i < 2 ? extent_bytes : tensor_capacity);
    }
    target.device->upload(device_buffers[0].get(), cache.keys.front(), extent_bytes);
    target.device->upload(device_buffers[1].get(), cache.values.front(), extent_bytes);
    timed = rebased(cache, device_buffers[0].get(), device_buffers[1].get());
    keys_out = device_buffers[2].get();
    values_out = device_buffers[3].get();
  } else {
    decoded_keys.resize(tensor_capacity);
    decoded_values.resize(tensor_capacity);
    keys_out = decoded_keys.data();
    values_out = decoded_values.data();
  }

  const SilencedProgress silenced(codec);
  CompressResult compressed;
  auto compress_once = [&] {
    compressed = codec.compress(timed, settings, queries, blob.data(), blob.size());
    if (!compressed.fits) throw Error(KVC_ERR_INTERNAL, "the blob outgrew its bound");
  };
  auto decompress_once = [&] {
    codec.decompress(blob.data(), compressed.blob_bytes, DecodeRange{}, KVC_DTYPE_AS_STORED, false,
                     keys_out, values_out, tensor_capacity);
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
    if (progress) progress(i + 1, iterations);
  }

  BenchmarkFigures f;
  f.iterations = iterations;
  f.compress_ms_median = percentile(compress_ms, 0.5);
  f.compress_ms_p99 = percentile(compress_ms, 0.99);
  f.decompress_ms_median = percentile(decompress_ms, 0.5);
  f.decompress_ms_p99 = percentile(decompress_ms, 0.99);
  f.original_bytes = dims.total_bytes();
  f.compressed_bytes = compressed.blob_bytes;
  const double original = static_cast<double>(f.original_bytes);
  f.compress_gb_per_s = original / (f.compress_ms_median * 1e6);
  f.decompress_gb_per_s = original / (f.decompress_ms_median * 1e6);
  f.size = size_figures(dims, f.compressed_bytes);
  f.tokens_total = uint64_t{dims.num_tokens} * dims.num_layers;
  f.tokens_kept = compressed.tokens_kept;
  f.quality = validate_blob(*target.host_codec, *target.backend, cache,
                            queries != nullptr ? *queries : QueryView{}, blob.data(),
                            compressed.blob_bytes, ValidationRequest{}, nullptr);
  return f;
}

}  // namespace kvc
