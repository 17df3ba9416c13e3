// seed_scenario_bench.cpp: the seed 000 scenario through the C API: one layer, one head, 100
// tokens x 128 fp16, gpt-4's policy, 5 queries and attention selection (threshold 0.92).
//
// How to run (Release build):
//   cmake --build build -j2 --target kvc_seed_bench
//   build/tests/bench/kvc_seed_bench --benchmark_min_time=0.5
// Rows (single thread, wall clock, one context, buffers allocated outside the timed loop):
//   BM_SeedCompress/select      kvc_compress_with_queries, attention selection at 0.92
//   BM_SeedCompress/none        the same call without selection (queries only measure coverage)
//   BM_SeedDecompress           kvc_decompress of the selected blob
// The target is a median compress of at most 50 microseconds on one core.
// Data: deterministic (SplitMix64): keys Gaussian with about 1 channel in 16 at 4-10x and a
// per-channel offset, values Gaussian, queries Gaussian scaled on the keys' outlier channels.
#include <benchmark/benchmark.h>
#include <kvc/kvc_tools.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../sized_buffers.h"

namespace {

constexpr uint32_t kTokens = 100;
constexpr uint32_t kHeadDim = 128;
constexpr uint32_t kQueries = 5;

class Generator {
 public:
  explicit Generator(uint64_t seed) : state_(seed) {}
  double uniform() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1.0p-53;
  }
  double normal() {
    const double u = 1.0 - uniform();
    return std::sqrt(-2.0 * std::log(u)) * std::cos(6.283185307179586 * uniform());
  }

 private:
  uint64_t state_;
};

// float -> fp16 for the normal range used here (|x| < 65504, no subnormals needed).
uint16_t to_f16(float f) {
  uint32_t x = 0;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const int exponent = static_cast<int>((x >> 23) & 0xFF) - 112;
  if (exponent <= 0) return static_cast<uint16_t>(sign);
  uint32_t half = (static_cast<uint32_t>(exponent) << 10) | ((x & 0x7FFFFFu) >> 13);
  const uint32_t rest = x & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return static_cast<uint16_t>(sign | half);
}

struct Scenario {
  kvc_context* ctx = nullptr;
  kvc_cache_shape shape{};
  kvc_query_shape query_shape{};
  kvc_compress_params params{};
  std::vector<uint16_t> keys, values;
  std::vector<float> queries;
  std::vector<unsigned char> blob;

  explicit Scenario(int32_t selection) {
    kvc_context_create(nullptr, &ctx, nullptr, 0);
    kvc_cache_shape_default(&shape, sizeof shape);
    shape.num_layers = 1;
    shape.num_kv_heads = 1;
    shape.num_tokens = kTokens;
    shape.head_dim = kHeadDim;
    shape.dtype = KVC_DTYPE_F16;
    kvc_compress_params_default(&params, sizeof params);
    const kvc_adapter* gpt4 = nullptr;
    if (kvc_adapter_find("gpt-4", &gpt4) == KVC_OK) kvc_adapter_compress_params(gpt4, &params);
    params.selection = selection;
    Generator g(20240601);
    std::vector<float> scale(kHeadDim), offset(kHeadDim);
    for (uint32_t d = 0; d < kHeadDim; ++d) {
      scale[d] = static_cast<float>(g.uniform() < 1.0 / 16.0 ? 4.0 + 6.0 * g.uniform() : 1.0);
      offset[d] = static_cast<float>(0.5 * g.normal()) * scale[d];
    }
    for (uint32_t t = 0; t < kTokens; ++t) {
      for (uint32_t d = 0; d < kHeadDim; ++d) {
        keys.push_back(to_f16(offset[d] + scale[d] * static_cast<float>(g.normal())));
        values.push_back(to_f16(static_cast<float>(g.normal())));
      }
    }
    kvc_query_shape_default(&query_shape, sizeof query_shape);
    query_shape.num_query_heads = 1;
    query_shape.num_queries = kQueries;
    query_shape.head_dim = kHeadDim;
    query_shape.dtype = KVC_DTYPE_F32;
    for (uint32_t i = 0; i < kQueries * kHeadDim; ++i) {
      queries.push_back(scale[i % kHeadDim] * static_cast<float>(g.normal()));
    }
    blob.resize(kvc_compress_bound(&params, &shape));
  }
  ~Scenario() { kvc_context_free(ctx); }

  kvc_status compress(size_t* size, kvc_metrics* m) {
    return kvc_compress_with_queries(ctx, &params, &shape, keys.data(), kvc_sized::nbytes(keys),
                                     values.data(), kvc_sized::nbytes(values), &query_shape,
                                     queries.data(), kvc_sized::nbytes(queries), blob.data(),
                                     blob.size(), size, m);
  }
};

void BM_SeedCompress(benchmark::State& state) {
  Scenario s(state.range(0) != 0 ? KVC_SELECT_ATTENTION : KVC_SELECT_NONE);
  size_t size = 0;
  kvc_metrics m{};
  m.struct_size = sizeof m;
  for (auto _ : state) {
    if (s.compress(&size, &m) != KVC_OK) {
      state.SkipWithError(kvc_context_last_error(s.ctx));
      return;
    }
    benchmark::DoNotOptimize(size);
  }
  const double original = 2.0 * kTokens * kHeadDim * 2;
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * original));
  state.counters["ratio"] = m.compression_ratio;
  state.counters["tokens_kept"] = static_cast<double>(m.tokens_kept);
  state.counters["coverage"] = m.attention_coverage;
  state.SetLabel(state.range(0) != 0 ? "select" : "none");
}
BENCHMARK(BM_SeedCompress)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond);

void BM_SeedDecompress(benchmark::State& state) {
  Scenario s(KVC_SELECT_ATTENTION);
  size_t size = 0;
  if (s.compress(&size, nullptr) != KVC_OK) {
    state.SkipWithError(kvc_context_last_error(s.ctx));
    return;
  }
  std::vector<unsigned char> k(kTokens * kHeadDim * 2), v(kTokens * kHeadDim * 2);
  for (auto _ : state) {
    size_t written = 0;
    if (kvc_decompress(s.ctx, nullptr, s.blob.data(), size, k.data(), v.data(), k.size(),
                       &written) != KVC_OK) {
      state.SkipWithError(kvc_context_last_error(s.ctx));
      return;
    }
    benchmark::DoNotOptimize(written);
  }
}
BENCHMARK(BM_SeedDecompress)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
