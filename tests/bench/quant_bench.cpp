// quant_bench.cpp: single-thread GB/s of the CPU quantize kernels and the C API next to memcpy.
//
// How to run (Release build; the numbers of a Debug build mean nothing):
//   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DKVC_BUILD_TESTS=OFF -DKVC_BUILD_CLI=OFF
//   cmake --build build-bench -j --target kvc_quant_bench kvc_api_bench
//   build-bench/tests/bench/kvc_quant_bench --benchmark_min_time=0.5
//   build-bench/tests/bench/kvc_quant_bench --benchmark_filter='Quantize_avx2/4/'
//   build-bench/tests/bench/kvc_api_bench   # the same BM_*Api rows, linked against libkvc.so only
// kvc_quant_bench links the core objects (both kernel tables) and libkvc.so (the C API rows);
// kvc_api_bench is this file built with KVC_BENCH_API_ONLY, seeing only <kvc/kvc.h>.
//
// Data: a cache of at least 64 MiB per tensor (keys, and values, each). If
// $KVC_BENCH_DATA_DIR/smollm2-135m.safetensors exists (default directory set at configure time,
// /tmp/kvc-data) it is tiled along tokens up to that size, each tile of a layer taken from a
// different source layer so that no tensor holds an exact repeat; else (or with
// KVC_BENCH_SYNTHETIC=1) a deterministic synthetic cache: 8 layers x 8 heads x 4096 tokens x 128
// head_dim fp16, Gaussian with a few outlier channels in the keys. The context lines at the top
// of the output name the data and its shape.
//
// Rows (all single thread, wall-clock time, every buffer allocated and pre-faulted outside the
// timed loop):
//   BM_Memcpy                          memcpy of one tensor (keys) into a pre-faulted buffer
//   BM_Quantize_<table>/B/G/axis       backend quantize kernel alone (no zstd) of one tensor;
//                                      table avx2 or generic; B bits; G group size; axis keys
//                                      (per channel, groups of G tokens) or values (per token,
//                                      groups of G elements, G capped at head_dim)
//   BM_Dequantize_<table>/B/G/axis     the inverse, into fp16
//   BM_CompressApi/B, BM_DecompressApi/B   kvc_compress / kvc_decompress of keys and values
//                                      (B bits for both; 16 = lossless), group 64, zstd level 1,
//                                      checksums; a fresh context per benchmark
// Columns:
//   bytes_per_second   fp16 bytes per second (GiB/s as printed): the input of quantize and
//                      compress, the output of dequantize and decompress
//   GBps               the same in decimal GB/s
//   vs_memcpy          bytes_per_second / the memcpy bytes per second measured once at start-up
//                      in this process (best of 5 copies of the same size), so the ratio of a row
//                      comes from one run; the target for quantize is >= 0.5
//   ratio              (API rows) original bytes / blob bytes
#include <benchmark/benchmark.h>
#include <kvc/kvc_tools.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "../sized_buffers.h"

#ifndef KVC_BENCH_API_ONLY
#include "backend/backend.h"
#include "backend/cpu/cpu_kernels.h"
#endif

#ifndef KVC_BENCH_DATA_DIR
#define KVC_BENCH_DATA_DIR "/tmp/kvc-data"
#endif

namespace {

constexpr uint64_t kMinTensorBytes = uint64_t{64} << 20;

// A packed fp16 cache: keys and values each [layer][head][token][dim].
struct BenchCache {
  uint32_t layers = 0, heads = 0, tokens = 0, head_dim = 0;
  std::vector<uint16_t> keys, values;
  std::string description;

  uint64_t elements_per_tensor() const { return uint64_t{layers} * heads * tokens * head_dim; }
  uint64_t bytes_per_tensor() const { return elements_per_tensor() * 2; }
};

BenchCache g_cache;
double g_memcpy_bytes_per_second = 0.0;
std::vector<unsigned char> g_copy_destination;  // pre-faulted, bytes_per_tensor()

// Float to IEEE half, round to nearest even, for finite values within half range (setup only).
uint16_t half_from_float(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t abs = u & 0x7FFFFFFFu;
  if (abs >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7BFFu);  // clamp to 65504
  if (abs < 0x38800000u) {
    // A subnormal half or zero: a count of 2^-24, rounded to nearest even.
    const float units = std::fabs(f) * 16777216.0f;
    return static_cast<uint16_t>(sign | static_cast<uint32_t>(std::nearbyint(units)));
  }
  uint32_t half = (abs - 0x38000000u) >> 13;
  const uint32_t rest = abs & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

// splitmix64: a small deterministic generator, identical on every platform.
struct Random {
  uint64_t state;
  uint64_t next() {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1).
  double uniform() { return (static_cast<double>(next() >> 11) + 0.5) * 0x1.0p-53; }
  // Two independent standard normal values (Box-Muller).
  void gaussian_pair(float& a, float& b) {
    const double r = std::sqrt(-2.0 * std::log(uniform()));
    const double phi = 6.283185307179586 * uniform();
    a = static_cast<float>(r * std::cos(phi));
    b = static_cast<float>(r * std::sin(phi));
  }
};

// Synthetic cache: keys ~ N(mean_c, sigma_c) per channel with one outlier channel in 32 (x8
// scale, offset 2), values ~ N(0, 0.5) with one outlier channel in 64 (x4).
void make_synthetic(BenchCache& c) {
  c.layers = 8;
  c.heads = 8;
  c.tokens = 4096;
  c.head_dim = 128;
  const uint64_t n = c.elements_per_tensor();
  c.keys.resize(n);
  c.values.resize(n);
  Random random{0x6B7663u};
  std::vector<float> key_mean(c.head_dim), key_sigma(c.head_dim);
  const uint64_t rows = n / c.head_dim;
  for (uint64_t row = 0; row < rows; ++row) {
    if (row % c.tokens == 0) {  // a new (layer, head): new channel statistics
      for (uint32_t d = 0; d < c.head_dim; ++d) {
        const bool is_outlier = d % 32 == 7;
        key_mean[d] = static_cast<float>((random.uniform() - 0.5) * 0.5) + (is_outlier ? 2.0f : 0);
        key_sigma[d] = static_cast<float>(0.5 + random.uniform()) * (is_outlier ? 8.0f : 1.0f);
      }
    }
    uint16_t* k = c.keys.data() + row * c.head_dim;
    uint16_t* v = c.values.data() + row * c.head_dim;
    for (uint32_t d = 0; d < c.head_dim; d += 2) {
      float a, b;
      random.gaussian_pair(a, b);
      k[d] = half_from_float(key_mean[d] + key_sigma[d] * a);
      k[d + 1] = half_from_float(key_mean[d + 1] + key_sigma[d + 1] * b);
      random.gaussian_pair(a, b);
      v[d] = half_from_float(0.5f * a * (d % 64 == 3 ? 4.0f : 1.0f));
      v[d + 1] = half_from_float(0.5f * b);
    }
  }
  c.description = "synthetic 8 layers x 8 heads x 4096 tokens x 128 head_dim fp16";
}

// Real cache tiled along tokens: tile k of layer l comes from layer (l + k*step) % L, so tiles
// of one tensor differ (when there are at least as many layers as tiles).
bool load_real(BenchCache& c, const std::string& path) {
  FILE* probe = std::fopen(path.c_str(), "rb");
  if (probe == nullptr) return false;
  std::fclose(probe);
  kvc_context* ctx = nullptr;
  if (kvc_context_create(nullptr, &ctx, nullptr, 0) != KVC_OK) return false;
  kvc_cache* file = nullptr;
  kvc_cache_shape shape;
  kvc_cache_shape_default(&shape, sizeof shape);
  bool loaded = false;
  if (kvc_cache_load(ctx, path.c_str(), &file) != KVC_OK) {
    std::fprintf(stderr, "kvc bench: %s: %s; using synthetic data\n", path.c_str(),
                 kvc_context_last_error(ctx));
  } else if (kvc_cache_get_shape(file, &shape) != KVC_OK || shape.dtype != KVC_DTYPE_F16) {
    std::fprintf(stderr, "kvc bench: %s is not an fp16 cache; using synthetic data\n",
                 path.c_str());
  } else {
    const uint64_t source_rows = uint64_t{shape.num_tokens} * shape.head_dim;  // per head
    const uint64_t source_tensor_bytes =
        uint64_t{shape.num_layers} * shape.num_kv_heads * source_rows * 2;
    const uint32_t tiles =
        static_cast<uint32_t>((kMinTensorBytes + source_tensor_bytes - 1) / source_tensor_bytes);
    const uint32_t step = std::max(1u, shape.num_layers / tiles);
    c.layers = shape.num_layers;
    c.heads = shape.num_kv_heads;
    c.tokens = shape.num_tokens * tiles;
    c.head_dim = shape.head_dim;
    c.keys.resize(c.elements_per_tensor());
    c.values.resize(c.elements_per_tensor());
    const auto* keys = static_cast<const uint16_t*>(kvc_cache_keys(file));
    const auto* values = static_cast<const uint16_t*>(kvc_cache_values(file));
    for (uint32_t l = 0; l < c.layers; ++l) {
      for (uint32_t h = 0; h < c.heads; ++h) {
        for (uint32_t k = 0; k < tiles; ++k) {
          const uint32_t source_layer = (l + k * step) % shape.num_layers;
          const uint64_t from = (uint64_t{source_layer} * c.heads + h) * source_rows;
          const uint64_t to =
              ((uint64_t{l} * c.heads + h) * c.tokens + uint64_t{k} * shape.num_tokens) *
              c.head_dim;
          std::memcpy(c.keys.data() + to, keys + from, source_rows * 2);
          std::memcpy(c.values.data() + to, values + from, source_rows * 2);
        }
      }
    }
    const char* model = kvc_cache_model_name(file);
    c.description = std::string(model[0] ? model : path) + " tiled x" + std::to_string(tiles) +
                    ": " + std::to_string(c.layers) + " layers x " + std::to_string(c.heads) +
                    " heads x " + std::to_string(c.tokens) + " tokens x " +
                    std::to_string(c.head_dim) + " head_dim fp16";
    loaded = true;
  }
  kvc_cache_free(file);
  kvc_context_free(ctx);
  return loaded;
}

void load_cache(BenchCache& c) {
  const char* synthetic = std::getenv("KVC_BENCH_SYNTHETIC");
  const char* dir = std::getenv("KVC_BENCH_DATA_DIR");
  const std::string path =
      std::string(dir ? dir : KVC_BENCH_DATA_DIR) + "/smollm2-135m.safetensors";
  if ((synthetic == nullptr || std::strcmp(synthetic, "1") != 0) && load_real(c, path)) return;
  make_synthetic(c);
}

// Best of 5 copies of one tensor, after one warm-up copy.
double measure_memcpy_bytes_per_second() {
  const size_t bytes = g_cache.bytes_per_tensor();
  g_copy_destination.assign(bytes, 0);  // faults every page in
  double best_seconds = 1e30;
  for (int run = 0; run < 6; ++run) {
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(g_copy_destination.data(), g_cache.keys.data(), bytes);
    benchmark::ClobberMemory();
    const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
    if (run > 0) best_seconds = std::min(best_seconds, elapsed.count());
  }
  return static_cast<double>(bytes) / best_seconds;
}

// bytes_per_second, GBps and vs_memcpy for `bytes` processed per iteration.
void report_rates(benchmark::State& state, uint64_t bytes) {
  const double total = static_cast<double>(bytes) * static_cast<double>(state.iterations());
  state.SetBytesProcessed(static_cast<int64_t>(total));
  state.counters["GBps"] = benchmark::Counter(total * 1e-9, benchmark::Counter::kIsRate);
  state.counters["vs_memcpy"] =
      benchmark::Counter(total / g_memcpy_bytes_per_second, benchmark::Counter::kIsRate);
}

void BM_Memcpy(benchmark::State& state) {
  const size_t bytes = g_cache.bytes_per_tensor();
  for (auto _ : state) {
    std::memcpy(g_copy_destination.data(), g_cache.keys.data(), bytes);
    benchmark::DoNotOptimize(g_copy_destination.data());
    benchmark::ClobberMemory();
  }
  report_rates(state, bytes);
}

#ifndef KVC_BENCH_API_ONLY

const char* axis_name(kvc::GroupAxis axis) {
  return axis == kvc::GroupAxis::Tokens ? "keys" : "values";
}

// The whole cache as one quantized tensor: layers folded into heads (the buffer is packed).
kvc::QuantGeometry geometry_of(kvc::GroupAxis axis, int bits, uint32_t group_size) {
  kvc::QuantGeometry g;
  g.heads = g_cache.layers * g_cache.heads;
  g.tokens = g_cache.tokens;
  g.head_dim = g_cache.head_dim;
  g.bits = bits;
  g.axis = axis;
  g.group_size =
      axis == kvc::GroupAxis::Channels ? std::min(group_size, g_cache.head_dim) : group_size;
  return g;
}

// Codes, scales and zeros of one quantized tensor, pre-faulted (zero-filled).
struct Quantized {
  std::vector<unsigned char> codes, scales, zeros;
  kvc::QuantizeJob job;

  Quantized(kvc::GroupAxis axis, int bits, uint32_t group_size)
      : codes(geometry_of(axis, bits, group_size).code_bytes()),
        scales(geometry_of(axis, bits, group_size).groups() * 2),
        zeros(geometry_of(axis, bits, group_size).groups() * 2) {
    job.geometry = geometry_of(axis, bits, group_size);
    job.input.base = axis == kvc::GroupAxis::Tokens ? g_cache.keys.data() : g_cache.values.data();
    job.input.head_stride = uint64_t{g_cache.tokens} * g_cache.head_dim;
    job.input.token_stride = g_cache.head_dim;
    job.input.dtype = kvc::DType::F16;
    job.side = kvc::SideDType::F16;
    job.codes = codes.data();
    job.scales = scales.data();
    job.zeros = zeros.data();
  }
};

void BM_Quantize(benchmark::State& state, const kvc::cpu::Kernels* kernels, int bits,
                 uint32_t group_size, kvc::GroupAxis axis) {
  Quantized q(axis, bits, group_size);
  if (kernels->quantize(q.job) != kvc::QuantOutcome::Ok) {  // also warms the code path up
    state.SkipWithError("quantize did not return Ok (fp16 side values overflow?)");
    return;
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(kernels->quantize(q.job));
    benchmark::ClobberMemory();
  }
  report_rates(state, g_cache.bytes_per_tensor());
}

void BM_Dequantize(benchmark::State& state, const kvc::cpu::Kernels* kernels, int bits,
                   uint32_t group_size, kvc::GroupAxis axis) {
  Quantized q(axis, bits, group_size);
  if (kernels->quantize(q.job) != kvc::QuantOutcome::Ok) {
    state.SkipWithError("quantize did not return Ok (fp16 side values overflow?)");
    return;
  }
  std::vector<uint16_t> output(g_cache.elements_per_tensor(), 0);
  kvc::DequantizeJob job;
  job.geometry = q.job.geometry;
  job.side = q.job.side;
  job.codes = q.codes.data();
  job.scales = q.scales.data();
  job.zeros = q.zeros.data();
  job.output = output.data();
  job.output_dtype = kvc::DType::F16;
  job.head_stride = q.job.input.head_stride;
  job.token_stride = q.job.input.token_stride;
  kernels->dequantize(job);  // warm-up
  for (auto _ : state) {
    kernels->dequantize(job);
    benchmark::DoNotOptimize(output.data());
    benchmark::ClobberMemory();
  }
  report_rates(state, g_cache.bytes_per_tensor());
}

void register_kernel_benchmarks() {
  struct Table {
    const char* name;
    const kvc::cpu::Kernels* kernels;
  };
  std::vector<Table> tables;
  // avx2::kernels() requires AVX2+F16C+FMA; the backend picks it under the same test.
  if (std::strcmp(kvc::cpu_backend().name(), kvc::cpu::avx2::kernels().name) == 0) {
    tables.push_back({"avx2", &kvc::cpu::avx2::kernels()});
  }
  tables.push_back({"generic", &kvc::cpu::generic::kernels()});
  struct Config {
    int bits;
    uint32_t group_size;
  };
  const std::vector<Config> configs = {{2, 64}, {2, 128}, {3, 64}, {3, 128}, {4, 32},
                                       {4, 64}, {4, 128}, {8, 64}, {8, 128}};
  for (const char* op : {"Quantize", "Dequantize"}) {
    for (const Table& t : tables) {
      for (const Config& c : configs) {
        for (const kvc::GroupAxis axis : {kvc::GroupAxis::Tokens, kvc::GroupAxis::Channels}) {
          const std::string name = std::string("BM_") + op + "_" + t.name + "/" +
                                   std::to_string(c.bits) + "/" + std::to_string(c.group_size) +
                                   "/" + axis_name(axis);
          auto* fn = std::strcmp(op, "Quantize") == 0 ? BM_Quantize : BM_Dequantize;
          benchmark::RegisterBenchmark(name.c_str(), fn, t.kernels, c.bits, c.group_size, axis)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
        }
      }
    }
  }
}

#endif  // KVC_BENCH_API_ONLY

// ---- public C API --------------------------------------------------------------------------

kvc_cache_shape api_shape() {
  kvc_cache_shape shape;
  kvc_cache_shape_default(&shape, sizeof shape);
  shape.num_layers = g_cache.layers;
  shape.num_kv_heads = g_cache.heads;
  shape.num_tokens = g_cache.tokens;
  shape.head_dim = g_cache.head_dim;
  shape.dtype = KVC_DTYPE_F16;
  return shape;
}

kvc_compress_params api_params(int bits) {
  kvc_compress_params params;
  kvc_compress_params_default(&params, sizeof params);
  params.key_bits = bits;
  params.value_bits = bits;
  params.group_size = 64;
  params.zstd_level = 1;
  return params;
}

// A context and a blob of the whole cache compressed with `bits`; ok false after an error.
struct ApiFixture {
  kvc_context* ctx = nullptr;
  kvc_cache_shape shape = api_shape();
  kvc_compress_params params;
  std::vector<unsigned char> blob;
  size_t blob_bytes = 0;
  std::string error;

  explicit ApiFixture(int bits) : params(api_params(bits)) {
    if (kvc_context_create(nullptr, &ctx, nullptr, 0) != KVC_OK) {
      error = "kvc_context_create failed";
      return;
    }
    blob.assign(kvc_compress_bound(&params, &shape), 0);
    compress();
  }
  ~ApiFixture() { kvc_context_free(ctx); }
  ApiFixture(const ApiFixture&) = delete;
  ApiFixture& operator=(const ApiFixture&) = delete;

  bool compress() {
    const kvc_status status =
        kvc_compress(ctx, &params, &shape, g_cache.keys.data(), kvc_sized::nbytes(g_cache.keys),
                     g_cache.values.data(), kvc_sized::nbytes(g_cache.values), blob.data(),
                     blob.size(), &blob_bytes, nullptr);
    if (status != KVC_OK) error = std::string("kvc_compress: ") + kvc_context_last_error(ctx);
    return status == KVC_OK;
  }
  double ratio() const {
    return 2.0 * static_cast<double>(g_cache.bytes_per_tensor()) / static_cast<double>(blob_bytes);
  }
};

void BM_CompressApi(benchmark::State& state) {
  ApiFixture f(static_cast<int>(state.range(0)));
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  for (auto _ : state) {
    if (!f.compress()) {
      state.SkipWithError(f.error.c_str());
      break;
    }
    benchmark::DoNotOptimize(f.blob.data());
    benchmark::ClobberMemory();
  }
  report_rates(state, 2 * g_cache.bytes_per_tensor());
  state.counters["ratio"] = f.ratio();
}

void BM_DecompressApi(benchmark::State& state) {
  ApiFixture f(static_cast<int>(state.range(0)));
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  const size_t tensor_bytes = g_cache.bytes_per_tensor();
  std::vector<unsigned char> keys(tensor_bytes, 0), values(tensor_bytes, 0);
  size_t written = 0;
  for (auto _ : state) {
    if (kvc_decompress(f.ctx, nullptr, f.blob.data(), f.blob_bytes, keys.data(), values.data(),
                       tensor_bytes, &written) != KVC_OK) {
      const std::string error = std::string("kvc_decompress: ") + kvc_context_last_error(f.ctx);
      state.SkipWithError(error.c_str());
      break;
    }
    benchmark::DoNotOptimize(keys.data());
    benchmark::DoNotOptimize(values.data());
    benchmark::ClobberMemory();
  }
  report_rates(state, 2 * g_cache.bytes_per_tensor());
  state.counters["ratio"] = f.ratio();
}

void register_api_benchmarks() {
  for (auto* fn : {BM_CompressApi, BM_DecompressApi}) {
    const char* name = fn == BM_CompressApi ? "BM_CompressApi" : "BM_DecompressApi";
    benchmark::RegisterBenchmark(name, fn)->Arg(4)->Arg(8)->Arg(16)->UseRealTime()->Unit(
        benchmark::kMillisecond);
  }
}

// The console table, with GBps and vs_memcpy printed as plain numbers: they are rates (divided by
// the measured time), but the "/s" that the default display appends would misread them.
class Reporter : public benchmark::ConsoleReporter {
 public:
  using benchmark::ConsoleReporter::ConsoleReporter;
  void ReportRuns(const std::vector<Run>& runs) override {
    std::vector<Run> shown = runs;
    for (Run& run : shown) {
      for (const char* name : {"GBps", "vs_memcpy"}) {
        const auto it = run.counters.find(name);
        if (it != run.counters.end()) it->second.flags = benchmark::Counter::kDefaults;
      }
    }
    benchmark::ConsoleReporter::ReportRuns(shown);
  }
};

}  // namespace

int main(int argc, char** argv) {
  bool is_console_format = true;  // the table reporter only replaces the default console one
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0 &&
        std::strcmp(argv[i] + 19, "console") != 0) {
      is_console_format = false;
    }
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  load_cache(g_cache);
  g_memcpy_bytes_per_second = measure_memcpy_bytes_per_second();

  char memcpy_text[64];
  std::snprintf(memcpy_text, sizeof memcpy_text, "%.2f GB/s (best of 5, %.1f MiB)",
                g_memcpy_bytes_per_second * 1e-9,
                static_cast<double>(g_cache.bytes_per_tensor()) / (1 << 20));
  benchmark::AddCustomContext("kvc_data", g_cache.description);
  benchmark::AddCustomContext("kvc_memcpy", memcpy_text);
  benchmark::AddCustomContext("kvc_version", kvc_version_string());
#ifndef KVC_BENCH_API_ONLY
  benchmark::AddCustomContext("kvc_cpu_backend", kvc::cpu_backend().name());
#endif

  benchmark::RegisterBenchmark("BM_Memcpy", BM_Memcpy)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
#ifndef KVC_BENCH_API_ONLY
  register_kernel_benchmarks();
#endif
  register_api_benchmarks();
  if (is_console_format) {
    Reporter reporter(isatty(STDOUT_FILENO) ? Reporter::OO_ColorTabular : Reporter::OO_Tabular);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  } else {
    benchmark::RunSpecifiedBenchmarks();
  }
  benchmark::Shutdown();
  return 0;
}
