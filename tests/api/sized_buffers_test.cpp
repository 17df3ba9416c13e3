// sized_buffers_test.cpp: every caller buffer is checked against its shape before kvc reads it;
// the hostile-user reproducers of API 0.2 (short slices, queries of fewer layers, layer counts).
#include "../sized_buffers.h"

#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>

#include <cstdio>
#include <string>
#include <vector>

#include "api/api_helpers.h"

namespace {

using kvc_api_test::Cache;
using kvc_api_test::contains;
using kvc_api_test::Context;

TEST(SizedBuffers, ExtentCountsPackedAndStridedShapes) {
  kvc_cache_shape s = kvc_api_test::shape(3, 2, 10, 32, KVC_DTYPE_F16);
  size_t all = 0, layer = 0;
  ASSERT_EQ(kvc_cache_shape_extent(&s, &all, &layer), KVC_OK);
  EXPECT_EQ(layer, 2u * 10 * 32 * 2);
  EXPECT_EQ(all, 3 * layer);
  s.token_stride = 40;    // padded tokens
  s.head_stride = 400;    // heads of 10 padded tokens
  s.layer_stride = 1000;  // layers apart; the last one ends at its last element
  ASSERT_EQ(kvc_cache_shape_extent(&s, &all, &layer), KVC_OK);
  EXPECT_EQ(layer, ((2 - 1) * 10 * 40 + 9 * 40 + 32) * 2u);
  EXPECT_EQ(all, (2 * 1000) * 2u + layer);
  s.num_layers = 0;
  EXPECT_EQ(kvc_cache_shape_extent(&s, &all, nullptr), KVC_ERR_INVALID_ARGUMENT);
  s = kvc_api_test::shape(2, 1, 4, 8);
  s.layer_stride = UINT64_MAX / 2;  // strides past the address space
  EXPECT_EQ(kvc_cache_shape_extent(&s, &all, nullptr), KVC_ERR_INVALID_ARGUMENT);

  kvc_query_shape q;
  kvc_query_shape_default(&q, sizeof q);
  q.num_query_heads = 4;
  q.num_queries = 3;
  q.head_dim = 32;
  q.dtype = KVC_DTYPE_F32;
  size_t bytes = 0;
  ASSERT_EQ(kvc_query_shape_extent(&q, 5, &bytes), KVC_OK);
  EXPECT_EQ(bytes, 4u * 3 * 32 * 4);
  q.per_layer = 1;
  ASSERT_EQ(kvc_query_shape_extent(&q, 5, &bytes), KVC_OK);
  EXPECT_EQ(bytes, 5u * 4 * 3 * 32 * 4);
}

// Safe Rust's compress with 16-byte slices and a large shape used to die with SIGSEGV.
TEST(SizedBuffers, ShortKeysOrValuesAreRefusedNamingBothNumbers) {
  Context ctx;
  const kvc_cache_shape s = kvc_api_test::shape(4, 8, 1024, 128);
  const kvc_compress_params p = kvc_api_test::params();
  std::vector<unsigned char> keys(16), values(16), dst(kvc_compress_bound(&p, &s));
  size_t size = 0;
  EXPECT_EQ(kvc_compress(ctx, &p, &s, keys.data(), keys.size(), values.data(), values.size(),
                         dst.data(), dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "keys_size 16 is smaller than the shape's extent of 8388608"));
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 32, 64);
  const size_t n = kvc_sized::nbytes(c.keys);
  EXPECT_EQ(kvc_compress(ctx, &p, &c.shape, c.keys.data(), n, c.values.data(), n - 2, dst.data(),
                         dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "values_size " + std::to_string(n - 2)));
  kvc_quality q{};
  q.struct_size = sizeof q;
  EXPECT_EQ(kvc_quality_compare(ctx, nullptr, &c.shape, c.keys.data(), n, c.values.data(), n,
                                &c.shape, c.keys.data(), n, c.values.data(), 64, &q),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "values_size 64 is smaller"));
  kvc_benchmark_result b{};
  b.struct_size = sizeof b;
  EXPECT_EQ(kvc_benchmark(ctx, &p, &c.shape, c.keys.data(), 8, c.values.data(), n, nullptr, nullptr,
                          0, 1, &b),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "keys_size 8 is smaller"));
}

// Go's SaveCache with 64-byte slices used to write process memory into the saved file.
TEST(SizedBuffers, SavingShortBuffersWritesNoFile) {
  Context ctx;
  const kvc_cache_shape s = kvc_api_test::shape(2, 2, 64, 64);
  std::vector<unsigned char> keys(64), values(64);
  const std::string path = ::testing::TempDir() + "/short_buffers.safetensors";
  std::remove(path.c_str());
  EXPECT_EQ(kvc_cache_save(ctx, path.c_str(), &s, keys.data(), keys.size(), values.data(),
                           values.size(), nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "keys_size 64 is smaller"));
  EXPECT_EQ(std::fopen(path.c_str(), "rb"), nullptr);
}

// Go's CompressLayers([][]byte{nil}) used to read layer pointers past the caller's array.
TEST(SizedBuffers, LayerPointersMustMatchTheShapeInCountAndSize) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 32, 64);
  const kvc_compress_params p = kvc_api_test::params();
  std::vector<unsigned char> dst(kvc_compress_bound(&p, &c.shape));
  const size_t layer = kvc_sized::nbytes(c.keys) / 2;
  const void* keys[2] = {c.keys.data(), c.keys.data() + layer};
  const void* values[2] = {c.values.data(), c.values.data() + layer};
  size_t sizes[2] = {layer, layer};
  size_t size = 0;
  EXPECT_EQ(kvc_compress_layers(ctx, &p, &c.shape, 1, keys, sizes, values, sizes, dst.data(),
                                dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "num_layer_pointers 1 is not the shape's 2 layers"));
  sizes[1] = layer - 1;
  EXPECT_EQ(kvc_compress_layers(ctx, &p, &c.shape, 2, keys, sizes, values, sizes, dst.data(),
                                dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "key_layer_sizes[1] " + std::to_string(layer - 1)));
  sizes[1] = layer;
  EXPECT_EQ(kvc_compress_layers(ctx, &p, &c.shape, 2, keys, sizes, values, sizes, dst.data(),
                                dst.size(), &size, nullptr),
            KVC_OK)
      << ctx.error();
  EXPECT_EQ(kvc_compress_layers(ctx, &p, &c.shape, 2, keys, nullptr, values, sizes, dst.data(),
                                dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "key_layer_sizes is NULL"));
}

// kvc validate --queries with a one-layer query file used to read past it (exit 0 or SIGSEGV);
// Python's ctx.compress read past the array silently.
TEST(SizedBuffers, QueriesOfFewerLayersThanTheCacheAreRefused) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(3, 2, 32, 64, KVC_DTYPE_F32);
  const size_t n = kvc_sized::nbytes(c.keys);
  kvc_query_shape q;
  kvc_query_shape_default(&q, sizeof q);
  q.num_query_heads = 2;
  q.num_queries = 4;
  q.head_dim = 64;
  q.dtype = KVC_DTYPE_F32;
  q.per_layer = 1;
  std::vector<float> one_layer(2 * 4 * 64, 0.5f);  // per_layer for 3 layers needs three times
  kvc_compress_params p = kvc_api_test::params();
  p.selection = KVC_SELECT_ATTENTION;
  std::vector<unsigned char> dst(kvc_compress_bound(&p, &c.shape));
  size_t size = 0;
  EXPECT_EQ(kvc_compress_with_queries(ctx, &p, &c.shape, c.keys.data(), n, c.values.data(), n, &q,
                                      one_layer.data(), kvc_sized::nbytes(one_layer), dst.data(),
                                      dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(),
                       "queries_size 2048 is smaller than the 6144 bytes the query "
                       "shape needs for 3 layers"));
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, kvc_api_test::params(), c);
  kvc_validation v{};
  v.struct_size = sizeof v;
  EXPECT_EQ(
      kvc_validate(ctx, nullptr, nullptr, &c.shape, c.keys.data(), n, c.values.data(), n, &q,
                   one_layer.data(), kvc_sized::nbytes(one_layer), blob.data(), blob.size(), &v),
      KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "queries_size 2048 is smaller"));
  q.per_layer = 0;  // one set for every layer: the same buffer is enough
  EXPECT_EQ(
      kvc_validate(ctx, nullptr, nullptr, &c.shape, c.keys.data(), n, c.values.data(), n, &q,
                   one_layer.data(), kvc_sized::nbytes(one_layer), blob.data(), blob.size(), &v),
      KVC_OK)
      << ctx.error();
}

TEST(SizedBuffers, LayerCountsNeedRoomForEverySelectedLayer) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(3, 2, 32, 64);
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, kvc_api_test::params(), c);
  uint32_t counts[3] = {};
  size_t needed = 0;
  EXPECT_EQ(kvc_decompress_positions(ctx, nullptr, blob.data(), blob.size(), counts, 2, nullptr, 0,
                                     &needed),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "layer_counts_capacity 2 is smaller than the 3 layers"));
  EXPECT_EQ(kvc_decompress_positions(ctx, nullptr, blob.data(), blob.size(), counts, 3, nullptr, 0,
                                     &needed),
            KVC_OK);
  EXPECT_EQ(counts[2], 32u);
}

TEST(ContextCreate, ReportsWhyItFailed) {
  kvc_context_params p;
  kvc_context_params_default(&p, sizeof p);
  p.device_index = 3;
  kvc_context* ctx = nullptr;
  char why[128] = "unchanged";
  EXPECT_EQ(kvc_context_create(&p, &ctx, why, sizeof why), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(ctx, nullptr);
  EXPECT_TRUE(contains(why, "device_index 3 does not exist"));
  char tiny[8] = "xxxxxxx";
  EXPECT_EQ(kvc_context_create(&p, &ctx, tiny, sizeof tiny), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_STREQ(tiny, "device_");  // cut to fit, NUL-terminated
  p.device_index = 0;
  ASSERT_EQ(kvc_context_create(&p, &ctx, why, sizeof why), KVC_OK);
  EXPECT_STREQ(why, "");
  kvc_context_free(ctx);
}

// A call from inside the context's own progress callback finds it busy; a free there waits for
// the running call to end (it used to be a use-after-free; ASan checks this in the sanitizer run).
struct Reentry {
  kvc_context* ctx = nullptr;
  const std::vector<unsigned char>* blob = nullptr;
  kvc_status inner = KVC_OK;
  bool free_inside = false;
  int calls = 0;
};

void reenter(void* user_data, uint64_t, uint64_t) {
  auto* r = static_cast<Reentry*>(user_data);
  ++r->calls;
  if (r->calls > 1) return;
  r->inner = kvc_verify(r->ctx, r->blob->data(), r->blob->size());
  if (r->free_inside) kvc_context_free(r->ctx);
}

TEST(ContextBusy, ACallFromItsOwnProgressCallbackIsBusyAndAFreeThereIsDeferred) {
  kvc_context* ctx = nullptr;
  ASSERT_EQ(kvc_context_create(nullptr, &ctx, nullptr, 0), KVC_OK);
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 32, 64);
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, kvc_api_test::params(), c);
  Reentry r;
  r.ctx = ctx;
  r.blob = &blob;
  ASSERT_EQ(kvc_context_set_progress(ctx, reenter, &r), KVC_OK);
  const auto d = kvc_api_test::decompress(ctx, blob);  // reports progress per chunk
  EXPECT_EQ(r.inner, KVC_ERR_BUSY);
  EXPECT_GT(r.calls, 1);
  EXPECT_EQ(d.keys.size(), c.keys.size());        // the outer call itself succeeded
  EXPECT_STREQ(kvc_context_last_error(ctx), "");  // BUSY left the last error alone

  r = Reentry{};
  r.ctx = ctx;
  r.blob = &blob;
  r.free_inside = true;
  ASSERT_EQ(kvc_context_set_progress(ctx, reenter, &r), KVC_OK);
  size_t needed = 0;
  std::vector<unsigned char> keys(kvc_sized::nbytes(c.keys)), values(keys.size());
  // The free inside the callback takes effect when this call returns: ctx is gone after it.
  EXPECT_EQ(kvc_decompress(ctx, nullptr, blob.data(), blob.size(), keys.data(), values.data(),
                           keys.size(), &needed),
            KVC_OK);
  EXPECT_EQ(r.inner, KVC_ERR_BUSY);
  EXPECT_EQ(needed, keys.size());
}

}  // namespace
