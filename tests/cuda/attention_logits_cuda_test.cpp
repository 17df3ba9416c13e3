// attention_logits_cuda_test.cpp: the plugin's cuBLAS attention logits agree with the CPU twin
// (within 1e-4 of the largest logit: cuBLAS sums in another order) on random and real caches.
#include <gtest/gtest.h>
#include <kvc/kvc.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/attention_logits.h"
#include "backend/plugin_loader.h"
#include "core/dtype.h"
#include "core/error.h"
#include "cuda/cuda_test_helpers.h"
#include "io/safetensors.h"
#include "unit/codec_helpers.h"

namespace kvc {
namespace {

using cuda_test::DeviceBytes;

std::vector<unsigned char> bytes_of(const std::vector<float>& x) {
  std::vector<unsigned char> b(x.size() * 4);
  std::memcpy(b.data(), x.data(), b.size());
  return b;
}

void expect_gpu_logits(const std::vector<float>& keys, const std::vector<float>& queries,
                       uint32_t kv_heads, uint32_t query_heads, uint32_t num_queries,
                       uint32_t tokens, uint32_t head_dim) {
  std::vector<float> expected(size_t{query_heads} * num_queries * tokens);
  cpu::attention_logits(keys.data(), queries.data(), kv_heads, query_heads, num_queries, tokens,
                        head_dim, expected.data());
  DeviceBytes d_keys(bytes_of(keys)), d_queries(bytes_of(queries)), d_out(expected.size() * 4);
  char message[256] = {0};
  ASSERT_EQ(cuda_test::plugin().attention_logits(
                static_cast<const float*>(d_keys.get()), static_cast<const float*>(d_queries.get()),
                kv_heads, query_heads, num_queries, tokens, head_dim,
                static_cast<float*>(d_out.get()), nullptr, message, sizeof message),
            KVC_OK)
      << message;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<unsigned char> raw = d_out.download();
  std::vector<float> actual(expected.size());
  std::memcpy(actual.data(), raw.data(), raw.size());
  double top = 1e-30;
  for (float x : expected) top = std::max(top, std::fabs(double{x}));
  for (size_t i = 0; i < expected.size(); ++i) ASSERT_NEAR(actual[i], expected[i], 1e-4 * top) << i;
}

// Logits on the device, then the device's softmax and aggregation, against the CPU twin of both.
void expect_gpu_mass(const std::vector<float>& keys, const std::vector<float>& queries,
                     uint32_t kv_heads, uint32_t query_heads, uint32_t num_queries, uint32_t tokens,
                     uint32_t head_dim) {
  std::vector<float> logits(size_t{query_heads} * num_queries * tokens);
  cpu::attention_logits(keys.data(), queries.data(), kv_heads, query_heads, num_queries, tokens,
                        head_dim, logits.data());
  std::vector<double> expected(size_t{kv_heads} * tokens);
  cpu::attention_mass_from_logits(logits.data(), kv_heads, query_heads, num_queries, tokens,
                                  expected.data());
  DeviceBytes d_keys(bytes_of(keys)), d_queries(bytes_of(queries)), d_logits(logits.size() * 4),
      d_mass(expected.size() * 8);
  char message[256] = {0};
  ASSERT_EQ(cuda_test::plugin().attention_logits(
                static_cast<const float*>(d_keys.get()), static_cast<const float*>(d_queries.get()),
                kv_heads, query_heads, num_queries, tokens, head_dim,
                static_cast<float*>(d_logits.get()), nullptr, message, sizeof message),
            KVC_OK)
      << message;
  ASSERT_EQ(cuda_test::plugin().attention_mass(
                static_cast<const float*>(d_logits.get()), kv_heads, query_heads, num_queries,
                tokens, static_cast<double*>(d_mass.get()), nullptr, message, sizeof message),
            KVC_OK)
      << message;
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const std::vector<unsigned char> raw = d_mass.download();
  std::vector<double> actual(expected.size());
  std::memcpy(actual.data(), raw.data(), raw.size());
  // Each KV head's mass sums to 1; the logits differ by up to 1e-4 of the largest (cuBLAS order).
  for (size_t i = 0; i < expected.size(); ++i) ASSERT_NEAR(actual[i], expected[i], 1e-4) << i;
  for (uint32_t h = 0; h < kv_heads; ++h) {
    double total = 0;
    for (uint32_t t = 0; t < tokens; ++t) total += actual[size_t{h} * tokens + t];
    EXPECT_NEAR(total, 1.0, 1e-6) << "head " << h;
  }
}

TEST(CudaAttentionLogits, SoftmaxAndAggregationOnTheDeviceMatchTheCpuTwin) {
  KVC_REQUIRE_GPU();
  std::mt19937 rng(53);
  std::normal_distribution<float> normal;
  for (const uint32_t tokens : {1u, 257u, 4096u}) {
    const uint32_t kv_heads = 2, query_heads = 8, num_queries = 7, head_dim = 64;
    std::vector<float> keys(size_t{kv_heads} * tokens * head_dim),
        queries(size_t{query_heads} * num_queries * head_dim);
    for (float& x : keys) x = normal(rng);
    for (float& x : queries) x = 2.0f * normal(rng);
    SCOPED_TRACE("tokens " + std::to_string(tokens));
    expect_gpu_mass(keys, queries, kv_heads, query_heads, num_queries, tokens, head_dim);
  }
}

TEST(CudaAttentionLogits, RandomGroupedQueriesMatchTheCpuTwin) {
  KVC_REQUIRE_GPU();
  std::mt19937 rng(51);
  std::normal_distribution<float> normal;
  for (uint32_t head_dim : {64u, 128u}) {
    const uint32_t kv_heads = 4, query_heads = 12, num_queries = 5, tokens = 1000;
    std::vector<float> keys(size_t{kv_heads} * tokens * head_dim),
        queries(size_t{query_heads} * num_queries * head_dim);
    for (float& x : keys) x = normal(rng);
    for (float& x : queries) x = normal(rng);
    expect_gpu_logits(keys, queries, kv_heads, query_heads, num_queries, tokens, head_dim);
  }
}

TEST(CudaAttentionLogits, RealCacheAndQueriesMatchTheCpuTwin) {
  KVC_REQUIRE_GPU();
  const auto cache = test::load_real_cache("stories260K.safetensors");
  const std::string query_file = kvc_test::data_path("stories260K.queries.safetensors");
  if (!cache || !kvc_test::file_exists(query_file)) {
    GTEST_SKIP() << test::missing_cache_reason("stories260K.safetensors");
  }
  const io::QueryFile q = io::load_query_safetensors(query_file);
  const CacheDims& d = cache->dims;
  const uint64_t key_elements = d.elements_per_tensor();
  const uint64_t query_elements = uint64_t{q.num_query_heads} * q.num_queries * q.head_dim;
  for (uint32_t layer = 0; layer < d.num_layers; ++layer) {
    std::vector<float> keys(key_elements), queries(query_elements);
    for (uint64_t i = 0; i < key_elements; ++i) {
      keys[i] = load_as_f32(cache->keys.data(), d.dtype, layer * key_elements + i);
    }
    for (uint64_t i = 0; i < query_elements; ++i) {
      queries[i] = load_as_f32(q.data.data(), q.dtype, layer * query_elements + i);
    }
    expect_gpu_logits(keys, queries, d.num_kv_heads, q.num_query_heads, q.num_queries, d.num_tokens,
                      d.head_dim);
  }
}

TEST(CudaPluginAbi, AttentionLogitsRejectsUngroupedHeads) {
  const CudaPlugin& plugin = cuda_test::plugin();
  if (!plugin.loaded) GTEST_SKIP() << "libkvc_cuda.so did not load: " << plugin.why_not;
  float dummy = 0;
  char message[256] = {0};
  EXPECT_EQ(plugin.attention_logits(&dummy, &dummy, 2, 3, 1, 1, 1, &dummy, nullptr, message,
                                    sizeof message),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(message, "query_heads 3 is not a multiple of kv_heads 2");
  double mass = 0;
  EXPECT_EQ(plugin.attention_mass(&dummy, 2, 3, 1, 1, &mass, nullptr, message, sizeof message),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(message, "query_heads 3 is not a multiple of kv_heads 2");
}

}  // namespace
}  // namespace kvc
