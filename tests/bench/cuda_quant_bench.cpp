// cuda_quant_bench.cpp: GB/s of the CUDA plugin's quantize and dequantize (bytes read + written)
// next to a device-to-device cudaMemcpy of the same input, on a 64 MiB fp16 tensor, as a table;
// then 1 GiB of KV to 4 bits, and kvc_compress/kvc_decompress of 1 GiB on a CUDA context.
#include <cuda_runtime.h>
#include <kvc/kvc.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "../sized_buffers.h"
#include "backend/plugin_abi.h"
#include "backend/plugin_loader.h"
#include "core/dtype.h"

namespace {

constexpr int kIterations = 20;

#define BENCH_CHECK(call)                                               \
  do {                                                                  \
    const cudaError_t rc_ = (call);                                     \
    if (rc_ != cudaSuccess) {                                           \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(rc_)); \
      std::exit(1);                                                     \
    }                                                                   \
  } while (0)

// Milliseconds per call of body, averaged over kIterations after one warm-up call.
template <class Body>
double time_ms(Body&& body) {
  body();
  BENCH_CHECK(cudaDeviceSynchronize());
  cudaEvent_t start, stop;
  BENCH_CHECK(cudaEventCreate(&start));
  BENCH_CHECK(cudaEventCreate(&stop));
  BENCH_CHECK(cudaEventRecord(start));
  for (int i = 0; i < kIterations; ++i) body();
  BENCH_CHECK(cudaEventRecord(stop));
  BENCH_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  BENCH_CHECK(cudaEventElapsedTime(&ms, start, stop));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / kIterations;
}

// GB/s of bytes moved (read + written) and of the fp16 input alone (DESIGN.md section 9).
void row(const char* op, int bits, const char* axis, double bytes, double input_bytes, double ms,
         double memcpy_gbs) {
  const double gbs = bytes / (ms * 1e-3) / 1e9;
  std::printf("| %-10s | %4d | %-6s | %10.1f | %8.3f | %8.1f | %10.1f | %6.1f%% |\n", op, bits,
              axis, bytes / (1 << 20), ms, gbs, input_bytes / (ms * 1e-3) / 1e9,
              100.0 * gbs / memcpy_gbs);
}

// Quantize arguments for a packed fp16 [heads][tokens][head_dim] tensor in device memory.
kvc_cuda_quantize_args packed_f16_quantize_args(const void* input, uint32_t heads, uint32_t tokens,
                                                uint32_t head_dim, int bits, uint32_t group,
                                                int axis, void* codes, void* scales, void* zeros) {
  kvc_cuda_quantize_args q{};
  q.input = input;
  q.head_stride = uint64_t{tokens} * head_dim;
  q.token_stride = head_dim;
  q.input_dtype = KVC_DTYPE_F16;
  q.heads = heads;
  q.tokens = tokens;
  q.head_dim = head_dim;
  q.bits = bits;
  q.group_size = group;
  q.axis = axis;
  q.codes = static_cast<unsigned char*>(codes);
  q.scales = scales;
  q.zeros = zeros;
  return q;
}

// Milliseconds per plugin quantize call of q (time_ms); exits on a failure.
double time_quantize(const kvc::CudaPlugin& plugin, const kvc_cuda_quantize_args& q) {
  char message[256] = {0};
  int32_t outcome = 0;
  return time_ms([&] {
    if (plugin.quantize(&q, &outcome, message, sizeof message) != KVC_OK || outcome != 0) {
      std::fprintf(stderr, "quantize failed: %s (outcome %d)\n", message, outcome);
      std::exit(1);
    }
  });
}

// The target: 1 GiB of fp16 KV to 4 bits (kernel time, keys per channel and values per
// token, 512 MiB each, group 64).
void one_gib_to_4_bits(const kvc::CudaPlugin& plugin) {
  const uint32_t heads = 32, tokens = 65536, head_dim = 128, group = 64;
  const size_t elements = size_t{heads} * tokens * head_dim;  // 512 MiB of fp16 per tensor
  void *keys, *values, *codes, *scales, *zeros;
  BENCH_CHECK(cudaMalloc(&keys, elements * 2));
  BENCH_CHECK(cudaMalloc(&values, elements * 2));
  BENCH_CHECK(cudaMalloc(&codes, elements / 2));
  BENCH_CHECK(cudaMalloc(&scales, elements / 8));
  BENCH_CHECK(cudaMalloc(&zeros, elements / 8));
  BENCH_CHECK(cudaMemset(keys, 0x3C, elements * 2));  // 1.0048828 in every fp16 lane
  BENCH_CHECK(cudaMemset(values, 0x2E, elements * 2));
  double total_ms = 0;
  for (int axis = 0; axis < 2; ++axis) {
    total_ms += time_quantize(
        plugin, packed_f16_quantize_args(axis == 0 ? keys : values, heads, tokens, head_dim, 4,
                                         group, axis, codes, scales, zeros));
  }
  std::printf(
      "\n1 GiB of fp16 KV (keys + values, 512 MiB each) to 4 bits, group %u: %.3f ms "
      "(target <= 0.5 ms)\n",
      group, total_ms);
  for (void* p : {keys, values, codes, scales, zeros}) cudaFree(p);
}

// Timings of the cuBLAS attention logits of token selection and of the cuSOLVER
// eigendecomposition of the PCA calibration, at sizes of a Llama-style layer.
void attention_and_eigen(const kvc::CudaPlugin& plugin) {
  char message[256] = {0};
  std::printf("\n| operation | size | ms |\n|---|---|---|\n");
  {
    const uint32_t kv_heads = 8, query_heads = 32, num_queries = 64, tokens = 8192, dim = 128;
    float *keys, *queries, *logits;
    BENCH_CHECK(cudaMalloc(&keys, sizeof(float) * kv_heads * tokens * dim));
    BENCH_CHECK(cudaMalloc(&queries, sizeof(float) * query_heads * num_queries * dim));
    BENCH_CHECK(cudaMalloc(&logits, sizeof(float) * query_heads * num_queries * tokens));
    BENCH_CHECK(cudaMemset(keys, 0, sizeof(float) * kv_heads * tokens * dim));
    BENCH_CHECK(cudaMemset(queries, 0, sizeof(float) * query_heads * num_queries * dim));
    const double ms = time_ms([&] {
      if (plugin.attention_logits(keys, queries, kv_heads, query_heads, num_queries, tokens, dim,
                                  logits, nullptr, message, sizeof message) != KVC_OK) {
        std::fprintf(stderr, "attention_logits: %s\n", message);
        std::exit(1);
      }
    });
    std::printf(
        "| attention logits (cuBLAS) | %u query heads x %u queries x %u tokens x %u | %.3f |\n",
        query_heads, num_queries, tokens, dim, ms);
    double* mass;
    BENCH_CHECK(cudaMalloc(&mass, sizeof(double) * kv_heads * tokens));
    const double mass_ms = time_ms([&] {
      if (plugin.attention_mass(logits, kv_heads, query_heads, num_queries, tokens, mass, nullptr,
                                message, sizeof message) != KVC_OK) {
        std::fprintf(stderr, "attention_mass: %s\n", message);
        std::exit(1);
      }
    });
    std::printf("| softmax + mass per token (kernel) | %u rows x %u tokens | %.3f |\n",
                query_heads * num_queries, tokens, mass_ms);
    cudaFree(mass);
    for (float* p : {keys, queries, logits}) cudaFree(p);
  }
  for (const uint32_t n : {32u, 64u, 128u}) {
    const uint32_t batch = 32;
    std::vector<float> host(size_t{batch} * n * n);
    std::mt19937 rng(3);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (uint32_t b = 0; b < batch; ++b) {  // symmetric: A + A^T
      float* a = host.data() + size_t{b} * n * n;
      for (uint32_t i = 0; i < n; ++i) {
        for (uint32_t j = 0; j <= i; ++j) a[size_t{i} * n + j] = a[size_t{j} * n + i] = normal(rng);
      }
    }
    float *a, *values, *vectors;
    BENCH_CHECK(cudaMalloc(&a, sizeof(float) * host.size()));
    BENCH_CHECK(cudaMalloc(&values, sizeof(float) * batch * n));
    BENCH_CHECK(cudaMalloc(&vectors, sizeof(float) * host.size()));
    BENCH_CHECK(cudaMemcpy(a, host.data(), sizeof(float) * host.size(), cudaMemcpyHostToDevice));
    const double ms = time_ms([&] {
      if (plugin.symmetric_eigen(a, n, batch, values, vectors, nullptr, message, sizeof message) !=
          KVC_OK) {
        std::fprintf(stderr, "symmetric_eigen: %s\n", message);
        std::exit(1);
      }
    });
    std::printf("| eigendecomposition (cuSOLVER syevj%s) | %u matrices of %u x %u | %.3f |\n",
                n <= 32 ? " batched" : "", batch, n, n, ms);
    for (float* p : {a, values, vectors}) cudaFree(p);
  }
}

// kvc_compress / kvc_decompress on a KVC_DEVICE_CUDA context: 1 GiB of fp16 KV in device memory
// (16 layers x 8 heads x 16384 tokens x 128), codes to the host, Zstandard and format on the host.
void through_the_c_api() {
  kvc_cache_shape shape;
  kvc_cache_shape_default(&shape, sizeof shape);
  shape.num_layers = 16;
  shape.num_kv_heads = 8;
  shape.num_tokens = 16384;
  shape.head_dim = 128;
  const size_t tensor_bytes = size_t{16} * 8 * 16384 * 128 * 2;
  std::vector<uint16_t> host(tensor_bytes / 2);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& h : host) h = kvc::f32_to_f16(normal(rng));
  void *keys, *values, *out_keys, *out_values;
  for (void** p : {&keys, &values, &out_keys, &out_values})
    BENCH_CHECK(cudaMalloc(p, tensor_bytes));
  BENCH_CHECK(cudaMemcpy(keys, host.data(), tensor_bytes, cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaMemcpy(values, host.data(), tensor_bytes, cudaMemcpyHostToDevice));
  kvc_context_params cp;
  kvc_context_params_default(&cp, sizeof cp);
  cp.device = KVC_DEVICE_CUDA;
  kvc_context* ctx = nullptr;
  if (kvc_context_create(&cp, &ctx, nullptr, 0) != KVC_OK) {
    std::fprintf(stderr, "CUDA context: no device context\n");
    std::exit(1);
  }
  std::printf("\nThrough the C API on a CUDA context, 1 GiB of fp16 KV in device memory:\n\n");
  std::printf("| call | bits | zstd | ms | input GB/s | ratio |\n|---|---|---|---|---|---|\n");
  for (const int zstd : {0, 1}) {
    kvc_compress_params p;
    kvc_compress_params_default(&p, sizeof p);
    p.zstd_level = zstd;
    std::vector<unsigned char> blob(kvc_compress_bound(&p, &shape));
    size_t size = 0;
    const auto wall_ms = [](auto&& body) {
      body();  // warm-up: scratch, zstd contexts
      const auto start = std::chrono::steady_clock::now();
      body();
      return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
          .count();
    };
    const double c_ms = wall_ms([&] {
      if (kvc_compress(ctx, &p, &shape, keys, kvc_sized::extent(&shape), values,
                       kvc_sized::extent(&shape), blob.data(), blob.size(), &size,
                       nullptr) != KVC_OK) {
        std::fprintf(stderr, "kvc_compress: %s\n", kvc_context_last_error(ctx));
        std::exit(1);
      }
    });
    const double ratio = 2.0 * tensor_bytes / size;
    std::printf("| kvc_compress | 4 | %d | %.2f | %.1f | %.2f |\n", zstd, c_ms,
                2.0 * tensor_bytes / (c_ms * 1e-3) / 1e9, ratio);
    size_t written = 0;
    const double d_ms = wall_ms([&] {
      if (kvc_decompress(ctx, nullptr, blob.data(), size, out_keys, out_values, tensor_bytes,
                         &written) != KVC_OK) {
        std::fprintf(stderr, "kvc_decompress: %s\n", kvc_context_last_error(ctx));
        std::exit(1);
      }
    });
    std::printf("| kvc_decompress | 4 | %d | %.2f | %.1f | %.2f |\n", zstd, d_ms,
                2.0 * tensor_bytes / (d_ms * 1e-3) / 1e9, ratio);
  }
  kvc_context_free(ctx);
  for (void* p : {keys, values, out_keys, out_values}) cudaFree(p);
}

}  // namespace

int main() {
  setenv("KVC_CUDA_PLUGIN", KVC_CUDA_PLUGIN_PATH, 0);
  if (kvc_device_count(KVC_DEVICE_CUDA) == 0) {
    std::printf(
        "no GPU: kvc_device_count(KVC_DEVICE_CUDA) is 0, so there is nothing to measure "
        "(run this on a machine with a CUDA device; see kernels/README.md)\n");
    return 0;
  }
  const kvc::CudaPlugin& plugin = kvc::cuda_plugin();
  if (!plugin.loaded) {
    std::fprintf(stderr, "libkvc_cuda.so did not load: %s\n", plugin.why_not.c_str());
    return 1;
  }
  // 32 heads x 8192 tokens x 128 dims of fp16 = 64 MiB.
  const uint32_t heads = 32, tokens = 8192, head_dim = 128, group = 64;
  const size_t elements = size_t{heads} * tokens * head_dim;
  const size_t input_bytes = elements * 2;
  std::vector<uint16_t> host(elements);
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (auto& h : host) h = kvc::f32_to_f16(normal(rng));
  void *input, *copy, *codes, *scales, *zeros, *output;
  BENCH_CHECK(cudaMalloc(&input, input_bytes));
  BENCH_CHECK(cudaMalloc(&copy, input_bytes));
  BENCH_CHECK(cudaMalloc(&output, input_bytes));
  BENCH_CHECK(cudaMalloc(&codes, elements));
  BENCH_CHECK(cudaMalloc(&scales, elements / 4));  // fp16, at least one per 8 elements
  BENCH_CHECK(cudaMalloc(&zeros, elements / 4));
  BENCH_CHECK(cudaMemcpy(input, host.data(), input_bytes, cudaMemcpyHostToDevice));

  const double memcpy_ms = time_ms(
      [&] { BENCH_CHECK(cudaMemcpyAsync(copy, input, input_bytes, cudaMemcpyDeviceToDevice)); });
  const double memcpy_gbs = 2.0 * input_bytes / (memcpy_ms * 1e-3) / 1e9;
  std::printf("%s, fp16 input %u heads x %u tokens x %u dims (%.0f MiB), group %u, %d runs\n\n",
              "CUDA quantize/dequantize", heads, tokens, head_dim, input_bytes / 1048576.0, group,
              kIterations);
  std::printf(
      "| op         | bits | axis   | MiB moved  | ms       | GB/s     | input GB/s | memcpy  |\n");
  std::printf(
      "|------------|------|--------|------------|----------|----------|------------|---------|\n");
  row("memcpy d2d", 16, "-", 2.0 * input_bytes, input_bytes, memcpy_ms, memcpy_gbs);
  char message[256] = {0};
  for (int axis = 0; axis < 2; ++axis) {
    for (int bits : {2, 3, 4, 8}) {
      const uint64_t groups = axis == 0 ? uint64_t{heads} * (tokens / group) * head_dim
                                        : uint64_t{heads} * tokens * (head_dim / group);
      const double code_bytes = (double(elements) * bits + 7) / 8;
      const double moved = input_bytes + code_bytes + 4.0 * groups;
      const kvc_cuda_quantize_args q = packed_f16_quantize_args(
          input, heads, tokens, head_dim, bits, group, axis, codes, scales, zeros);
      const double q_ms = time_quantize(plugin, q);
      const char* axis_name = axis == 0 ? "keys" : "values";
      row("quantize", bits, axis_name, moved, input_bytes, q_ms, memcpy_gbs);
      kvc_cuda_dequantize_args d{};
      d.heads = heads;
      d.tokens = tokens;
      d.head_dim = head_dim;
      d.bits = bits;
      d.group_size = group;
      d.axis = axis;
      d.codes = static_cast<const unsigned char*>(codes);
      d.scales = scales;
      d.zeros = zeros;
      d.output = output;
      d.output_dtype = KVC_DTYPE_F16;
      d.head_stride = q.head_stride;
      d.token_stride = head_dim;
      const double d_ms = time_ms([&] {
        if (plugin.dequantize(&d, message, sizeof message) != KVC_OK) {
          std::fprintf(stderr, "dequantize failed: %s\n", message);
          std::exit(1);
        }
      });
      row("dequantize", bits, axis_name, moved, input_bytes, d_ms, memcpy_gbs);
    }
  }
  std::printf("\nquantize includes its scratch allocation and the wait for its outcome.\n");
  for (void* p : {input, copy, codes, scales, zeros, output}) cudaFree(p);
  one_gib_to_4_bits(plugin);
  attention_and_eigen(plugin);
  through_the_c_api();
  return 0;
}
