// context_test.cpp: C API section "Context": creation, devices, last error, progress callback.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"

namespace {

using kvc_api_test::contains;
using kvc_api_test::Context;

TEST(Context, NullParamsGiveACpuContextWithAnEmptyError) {
  kvc_context* ctx = nullptr;
  ASSERT_EQ(kvc_context_create(nullptr, &ctx, nullptr, 0), KVC_OK);
  ASSERT_NE(ctx, nullptr);
  EXPECT_STREQ(kvc_context_last_error(ctx), "");
  kvc_context_free(ctx);
}

TEST(Context, DefaultParamsAreTheFirstCpu) {
  kvc_context_params p;
  std::memset(&p, 0x5A, sizeof p);
  ASSERT_EQ(kvc_context_params_default(&p, sizeof p), KVC_OK);
  EXPECT_EQ(p.struct_size, sizeof p);
  EXPECT_EQ(p.device, KVC_DEVICE_CPU);
  EXPECT_EQ(p.device_index, 0);
  kvc_context* ctx = nullptr;
  ASSERT_EQ(kvc_context_create(&p, &ctx, nullptr, 0), KVC_OK);
  kvc_context_free(ctx);
}

TEST(Context, ParamsDefaultWithAnOlderStructSizeFillsOnlyThatMuch) {
  kvc_context_params p;
  std::memset(&p, 0x5A, sizeof p);
  const uint32_t old_size = offsetof(kvc_context_params, device_index);  // before device_index
  ASSERT_EQ(kvc_context_params_default(&p, old_size), KVC_OK);
  EXPECT_EQ(p.struct_size, old_size);
  EXPECT_EQ(p.device, KVC_DEVICE_CPU);
  int32_t untouched;
  std::memset(&untouched, 0x5A, sizeof untouched);
  EXPECT_EQ(p.device_index, untouched);
  // The old struct is accepted, and the missing device_index defaults to 0.
  kvc_context* ctx = nullptr;
  ASSERT_EQ(kvc_context_create(&p, &ctx, nullptr, 0), KVC_OK);
  kvc_context_free(ctx);
}

TEST(Context, ParamsDefaultRejectsNullTinyAndNewerSizes) {
  kvc_context_params p;
  EXPECT_EQ(kvc_context_params_default(nullptr, sizeof p), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_context_params_default(&p, 4), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_context_params_default(&p, sizeof p + 4), KVC_ERR_UNSUPPORTED_VERSION);
}

TEST(Context, CreateRejectsANullOutPointer) {
  EXPECT_EQ(kvc_context_create(nullptr, nullptr, nullptr, 0), KVC_ERR_INVALID_ARGUMENT);
}

// The status stands alone here: a failed create has no context to hold a message.
TEST(Context, CreateRejectsNewerParamsAsUnsupportedVersion) {
  struct Newer {
    kvc_context_params p;
    uint32_t future_field;
  } newer{};
  ASSERT_EQ(kvc_context_params_default(&newer.p, sizeof newer.p), KVC_OK);
  newer.p.struct_size = sizeof newer;
  kvc_context* ctx = reinterpret_cast<kvc_context*>(&newer);  // must be reset to NULL
  EXPECT_EQ(kvc_context_create(&newer.p, &ctx, nullptr, 0), KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_EQ(ctx, nullptr);
}

TEST(Context, CreateRejectsUnknownDevicesAndIndexes) {
  kvc_context_params p;
  ASSERT_EQ(kvc_context_params_default(&p, sizeof p), KVC_OK);
  kvc_context* ctx = nullptr;
  p.device = 9;
  EXPECT_EQ(kvc_context_create(&p, &ctx, nullptr, 0), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ctx, nullptr);
  p.device = KVC_DEVICE_CPU;
  p.device_index = 1;
  EXPECT_EQ(kvc_context_create(&p, &ctx, nullptr, 0), KVC_ERR_INVALID_ARGUMENT);
  p.device_index = 0;
  p.struct_size = 4;
  EXPECT_EQ(kvc_context_create(&p, &ctx, nullptr, 0), KVC_ERR_INVALID_ARGUMENT);
}

TEST(Context, ACudaContextWithoutAGpuIsADeviceError) {
  if (kvc_device_count(KVC_DEVICE_CUDA) > 0) GTEST_SKIP() << "this machine has a usable GPU";
  kvc_context_params p;
  ASSERT_EQ(kvc_context_params_default(&p, sizeof p), KVC_OK);
  p.device = KVC_DEVICE_CUDA;
  kvc_context* ctx = nullptr;
  EXPECT_EQ(kvc_context_create(&p, &ctx, nullptr, 0), KVC_ERR_DEVICE);
  EXPECT_EQ(ctx, nullptr);
}

TEST(Context, FreeingNullIsANoOp) {
  kvc_context_free(nullptr);
  kvc_cache_free(nullptr);
}

TEST(Context, LastErrorNamesTheProblemAndIsClearedBySuccess) {
  Context ctx;
  const kvc_api_test::Cache cache = kvc_api_test::gaussian_cache(1, 1, 16, 8);
  kvc_compress_params p = kvc_api_test::params(5);
  size_t size = 0;
  std::vector<unsigned char> dst(1 << 16);
  EXPECT_EQ(kvc_compress(ctx, &p, &cache.shape, cache.keys.data(), kvc_sized::nbytes(cache.keys),
                         cache.values.data(), kvc_sized::nbytes(cache.values), dst.data(),
                         dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "key_bits 5 is not 2, 3, 4, 8 or 16"));
  p.key_bits = 4;
  EXPECT_EQ(kvc_compress(ctx, &p, &cache.shape, cache.keys.data(), kvc_sized::nbytes(cache.keys),
                         cache.values.data(), kvc_sized::nbytes(cache.values), dst.data(),
                         dst.size(), &size, nullptr),
            KVC_OK);
  EXPECT_EQ(ctx.error(), "");
  // Any successful call clears it, also one of another section.
  EXPECT_EQ(kvc_verify(ctx, nullptr, 0), KVC_ERR_CORRUPT_DATA);
  EXPECT_NE(ctx.error(), "");
  EXPECT_EQ(kvc_verify(ctx, dst.data(), size), KVC_OK);
  EXPECT_EQ(ctx.error(), "");
}

TEST(Context, LastErrorOfANullContextSaysSo) {
  EXPECT_STREQ(kvc_context_last_error(nullptr), "ctx is NULL");
}

TEST(Context, EveryCallTakingAContextRejectsNull) {
  const kvc_api_test::Cache c = kvc_api_test::gaussian_cache(1, 1, 8, 8);
  unsigned char buffer[64] = {};
  size_t size = 0;
  const void* layers[1] = {c.keys.data()};
  kvc_blob_info info{};
  info.struct_size = sizeof info;
  kvc_quality q{};
  q.struct_size = sizeof q;
  kvc_cache* cache = nullptr;
  EXPECT_EQ(kvc_context_set_progress(nullptr, nullptr, nullptr), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_compress(nullptr, nullptr, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                         c.values.data(), kvc_sized::nbytes(c.values), buffer, sizeof buffer, &size,
                         nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_compress_layers(nullptr, nullptr, &c.shape, c.shape.num_layers, layers,
                                kvc_sized::layer_sizes(c.shape).data(), layers,
                                kvc_sized::layer_sizes(c.shape).data(), buffer, sizeof buffer,
                                &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_inspect(nullptr, buffer, sizeof buffer, &info), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_verify(nullptr, buffer, sizeof buffer), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_decompress(nullptr, nullptr, buffer, sizeof buffer, buffer, buffer, 0, &size),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_quality_compare(
                nullptr, nullptr, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                c.values.data(), kvc_sized::nbytes(c.values), &c.shape, c.keys.data(),
                kvc_sized::nbytes(c.keys), c.values.data(), kvc_sized::nbytes(c.values), &q),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_cache_load(nullptr, "x.safetensors", &cache), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(cache, nullptr);
  EXPECT_EQ(
      kvc_cache_save(nullptr, "x.safetensors", &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                     c.values.data(), kvc_sized::nbytes(c.values), nullptr),
      KVC_ERR_INVALID_ARGUMENT);
}

struct ProgressLog {
  std::vector<std::pair<uint64_t, uint64_t>> calls;
};

void record_progress(void* user_data, uint64_t done, uint64_t total) {
  static_cast<ProgressLog*>(user_data)->calls.emplace_back(done, total);
}

void expect_counts_up_to(const ProgressLog& log, uint64_t total) {
  ASSERT_EQ(log.calls.size(), total);
  for (size_t i = 0; i < log.calls.size(); ++i) {
    EXPECT_EQ(log.calls[i].first, i + 1);  // strictly increasing, one per chunk
    EXPECT_EQ(log.calls[i].second, total);
  }
}

TEST(Context, ProgressIsReportedPerChunkWithIncreasingDoneUpToTotal) {
  Context ctx;
  ProgressLog log;
  ASSERT_EQ(kvc_context_set_progress(ctx, record_progress, &log), KVC_OK);
  const kvc_api_test::Cache cache = kvc_api_test::gaussian_cache(4, 2, 40, 16);
  const std::vector<unsigned char> blob =
      kvc_api_test::compress(ctx, kvc_api_test::params(), cache);
  expect_counts_up_to(log, 8);  // 4 layers x {keys, values}

  log.calls.clear();
  kvc_api_test::decompress(ctx, blob);
  expect_counts_up_to(log, 8);

  log.calls.clear();
  kvc_api_test::decompress(ctx, blob, KVC_DTYPE_AS_STORED, 1, 2);
  expect_counts_up_to(log, 4);  // the layers asked for

  log.calls.clear();
  ASSERT_EQ(kvc_context_set_progress(ctx, nullptr, nullptr), KVC_OK);
  kvc_api_test::compress(ctx, kvc_api_test::params(), cache);
  EXPECT_TRUE(log.calls.empty());
}

}  // namespace
