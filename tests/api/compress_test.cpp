// compress_test.cpp: C API section "Compress": params, shapes, bound, errors, strides, metrics.
#include <gtest/gtest.h>
#include <kvc/kvc.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"
#include "unit/test_data.h"

namespace {

using kvc_api_test::Cache;
using kvc_api_test::contains;
using kvc_api_test::Context;

constexpr size_t kCanaryBytes = 64;
constexpr unsigned char kCanary = 0xC3;

bool canary_intact(const std::vector<unsigned char>& buffer, size_t from) {
  for (size_t i = from; i < buffer.size(); ++i) {
    if (buffer[i] != kCanary) return false;
  }
  return true;
}

TEST(CompressParams, DefaultsAreTheDocumentedOnes) {
  kvc_compress_params p;
  std::memset(&p, 0x5A, sizeof p);
  ASSERT_EQ(kvc_compress_params_default(&p, sizeof p), KVC_OK);
  EXPECT_EQ(p.struct_size, sizeof p);
  EXPECT_EQ(p.key_bits, 4);
  EXPECT_EQ(p.value_bits, 4);
  EXPECT_EQ(p.group_size, 64);
  EXPECT_EQ(p.recent_full_precision_tokens, 0);
  EXPECT_EQ(p.zstd_level, 1);
  EXPECT_EQ(p.byte_shuffle, KVC_SHUFFLE_AUTO);
}

TEST(CompressParams, DefaultWithAnOlderStructSizeWritesOnlyThatMuch) {
  kvc_compress_params p;
  std::memset(&p, 0x5A, sizeof p);
  const uint32_t old_size = offsetof(kvc_compress_params, zstd_level);
  ASSERT_EQ(kvc_compress_params_default(&p, old_size), KVC_OK);
  EXPECT_EQ(p.struct_size, old_size);
  EXPECT_EQ(p.recent_full_precision_tokens, 0);
  int32_t untouched;
  std::memset(&untouched, 0x5A, sizeof untouched);
  EXPECT_EQ(p.zstd_level, untouched);
  EXPECT_EQ(p.byte_shuffle, untouched);
  EXPECT_EQ(kvc_compress_params_default(&p, sizeof p + 4), KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_EQ(kvc_compress_params_default(&p, 0), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_compress_params_default(nullptr, sizeof p), KVC_ERR_INVALID_ARGUMENT);
}

TEST(CompressParams, AnOlderStructGetsDefaultsForTheFieldsItLacks) {
  Context ctx;
  const Cache cache = kvc_api_test::gaussian_cache(1, 2, 32, 16);
  kvc_compress_params p = kvc_api_test::params(8, 2, 32);
  p.struct_size = offsetof(kvc_compress_params, zstd_level);
  p.zstd_level = 999;  // beyond struct_size: must be ignored
  p.byte_shuffle = 999;
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, cache);
  kvc_blob_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(kvc_inspect(ctx, blob.data(), blob.size(), &info), KVC_OK);
  EXPECT_EQ(info.key_bits, 8);
  EXPECT_EQ(info.value_bits, 2);
  EXPECT_EQ(info.group_size, 32);
  EXPECT_EQ(info.zstd_level, 1);
  EXPECT_EQ(info.byte_shuffle, KVC_SHUFFLE_AUTO);
}

TEST(CacheShape, DefaultIsZeroFp16AndPacked) {
  kvc_cache_shape s;
  std::memset(&s, 0x5A, sizeof s);
  ASSERT_EQ(kvc_cache_shape_default(&s, sizeof s), KVC_OK);
  EXPECT_EQ(s.struct_size, sizeof s);
  EXPECT_EQ(s.num_layers, 0u);
  EXPECT_EQ(s.num_kv_heads, 0u);
  EXPECT_EQ(s.num_tokens, 0u);
  EXPECT_EQ(s.head_dim, 0u);
  EXPECT_EQ(s.dtype, KVC_DTYPE_F16);
  EXPECT_EQ(s.layer_stride, 0u);
  EXPECT_EQ(s.head_stride, 0u);
  EXPECT_EQ(s.token_stride, 0u);
  EXPECT_EQ(kvc_cache_shape_default(&s, sizeof s + 8), KVC_ERR_UNSUPPORTED_VERSION);
  // An older caller's struct (say, one that ended before the strides) is filled no further.
  std::memset(&s, 0x5A, sizeof s);
  ASSERT_EQ(kvc_cache_shape_default(&s, offsetof(kvc_cache_shape, layer_stride)), KVC_OK);
  EXPECT_EQ(s.struct_size, offsetof(kvc_cache_shape, layer_stride));
  EXPECT_EQ(s.dtype, KVC_DTYPE_F16);
  EXPECT_EQ(s.layer_stride, 0x5A5A5A5A5A5A5A5Aull);
  EXPECT_EQ(kvc_cache_shape_default(nullptr, sizeof s), KVC_ERR_INVALID_ARGUMENT);
}

// One invalid call: a change to otherwise valid arguments and the text the error must hold.
struct BadCall {
  const char* what;
  std::function<void(kvc_compress_params&, kvc_cache_shape&)> change;
  const char* message;
};

TEST(Compress, InvalidArgumentsAreRejectedWithTheValueNamed) {
  const std::vector<BadCall> calls = {
      {"key_bits", [](auto& p, auto&) { p.key_bits = 5; }, "key_bits 5 is not 2, 3, 4, 8 or 16"},
      {"value_bits", [](auto& p, auto&) { p.value_bits = 0; },
       "value_bits 0 is not 2, 3, 4, 8 or 16"},
      {"group_size", [](auto& p, auto&) { p.group_size = 48; },
       "group_size 48 is not 32, 64 or 128"},
      {"negative group", [](auto& p, auto&) { p.group_size = -64; },
       "group_size -64 is not 32, 64 or 128"},
      {"recent_tokens", [](auto& p, auto&) { p.recent_full_precision_tokens = -1; },
       "recent_full_precision_tokens -1 is negative"},
      {"zstd_level", [](auto& p, auto&) { p.zstd_level = 23; }, "zstd_level 23 is not in -7..22"},
      {"byte_shuffle", [](auto& p, auto&) { p.byte_shuffle = 3; },
       "byte_shuffle 3 is not KVC_SHUFFLE_AUTO, KVC_SHUFFLE_OFF or KVC_SHUFFLE_ON"},
      {"params size", [](auto& p, auto&) { p.struct_size = 4; },
       "kvc_compress_params.struct_size 4 is too small"},
      {"num_layers", [](auto&, auto& s) { s.num_layers = 0; }, "num_layers is 0"},
      {"num_kv_heads", [](auto&, auto& s) { s.num_kv_heads = 0; }, "num_kv_heads is 0"},
      {"num_tokens", [](auto&, auto& s) { s.num_tokens = 0; }, "num_tokens is 0"},
      {"head_dim", [](auto&, auto& s) { s.head_dim = 0; }, "head_dim is 0"},
      {"dtype", [](auto&, auto& s) { s.dtype = 3; },
       "shape.dtype 3 is not KVC_DTYPE_F32, KVC_DTYPE_F16 or KVC_DTYPE_BF16"},
      {"dtype as stored", [](auto&, auto& s) { s.dtype = KVC_DTYPE_AS_STORED; },
       "shape.dtype -1 is not"},
      {"token_stride", [](auto&, auto& s) { s.token_stride = 4; },
       "token_stride 4 is smaller than head_dim 8"},
      {"shape size", [](auto&, auto& s) { s.struct_size = 8; },
       "kvc_cache_shape.struct_size 8 is too small"},
      {"num_layers range", [](auto&, auto& s) { s.num_layers = 5000; },
       "num_layers 5000 exceeds 4096"},
  };
  Context ctx;
  const Cache cache = kvc_api_test::gaussian_cache(2, 2, 16, 8);
  std::vector<unsigned char> dst(1 << 16);
  for (const BadCall& call : calls) {
    kvc_compress_params p = kvc_api_test::params();
    kvc_cache_shape s = cache.shape;
    call.change(p, s);
    size_t size = 12345;
    EXPECT_EQ(kvc_compress(ctx, &p, &s, cache.keys.data(), kvc_sized::nbytes(cache.keys),
                           cache.values.data(), kvc_sized::nbytes(cache.values), dst.data(),
                           dst.size(), &size, nullptr),
              KVC_ERR_INVALID_ARGUMENT)
        << call.what;
    EXPECT_TRUE(contains(ctx.error(), call.message)) << call.what;
    // The bound reads no strides, so a bad token_stride still gets a bound.
    if (std::string(call.what) != "token_stride") {
      EXPECT_EQ(kvc_compress_bound(&p, &s), 0u) << call.what;
    }
  }
}

TEST(Compress, NullPointersAreRejectedWithTheArgumentNamed) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 16, 8);
  std::vector<unsigned char> dst(1 << 16);
  size_t size = 0;
  const kvc_compress_params p = kvc_api_test::params();
  EXPECT_EQ(
      kvc_compress(ctx, &p, nullptr, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), dst.data(), dst.size(), &size, nullptr),
      KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "shape is NULL"));
  EXPECT_EQ(kvc_compress(ctx, &p, &c.shape, nullptr, 0, c.values.data(),
                         kvc_sized::nbytes(c.values), dst.data(), dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "keys is NULL"));
  EXPECT_EQ(kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), nullptr, 0,
                         dst.data(), dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "values is NULL"));
  EXPECT_EQ(
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), dst.data(), dst.size(), nullptr, nullptr),
      KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "out_size is NULL"));
  EXPECT_EQ(
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), nullptr, 100, &size, nullptr),
      KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "dst is NULL with a capacity of 100"));

  const void* keys[2] = {c.keys.data(), c.keys.data()};
  const void* values[2] = {c.values.data(), nullptr};
  EXPECT_EQ(kvc_compress_layers(
                ctx, &p, &c.shape, 2, nullptr, kvc_sized::layer_sizes(c.shape).data(), values,
                kvc_sized::layer_sizes(c.shape).data(), dst.data(), dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "key_layers is NULL"));
  EXPECT_EQ(kvc_compress_layers(ctx, &p, &c.shape, 2, keys, kvc_sized::layer_sizes(c.shape).data(),
                                values, kvc_sized::layer_sizes(c.shape).data(), dst.data(),
                                dst.size(), &size, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "value_layers[1] is NULL"));
  EXPECT_EQ(kvc_compress_bound(&p, nullptr), 0u);
}

TEST(Compress, NewerStructsAreUnsupportedVersionsWithTheStructNamed) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(1, 1, 16, 8);
  std::vector<unsigned char> dst(1 << 16);
  size_t size = 0;
  kvc_compress_params p = kvc_api_test::params();
  p.struct_size = sizeof p + 4;
  EXPECT_EQ(
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), dst.data(), dst.size(), &size, nullptr),
      KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), "kvc_compress_params.struct_size " +
                                        std::to_string(sizeof p + 4) +
                                        " is newer than this library"));
  p.struct_size = sizeof p;
  kvc_cache_shape s = c.shape;
  s.struct_size = sizeof s + 8;
  EXPECT_EQ(kvc_compress(ctx, &p, &s, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                         kvc_sized::nbytes(c.values), dst.data(), dst.size(), &size, nullptr),
            KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(
      ctx.error(), "kvc_cache_shape.struct_size " + std::to_string(sizeof s + 8) + " is newer"));
  kvc_metrics m{};
  m.struct_size = sizeof m + 8;
  EXPECT_EQ(
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), dst.data(), dst.size(), &size, &m),
      KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), "out_metrics.struct_size"));
  m.struct_size = 0;
  EXPECT_EQ(
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), dst.data(), dst.size(), &size, &m),
      KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "out_metrics.struct_size 0 is too small (set it to sizeof)"));
}

TEST(Compress, ATooSmallBufferReportsTheSizeNeededAndARetryWithItSucceeds) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(3, 2, 50, 32);
  const kvc_compress_params p = kvc_api_test::params(4, 2, 32, 3);
  const std::vector<unsigned char> expected = kvc_api_test::compress(ctx, p, c);
  size_t needed = 0;
  ASSERT_EQ(
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), nullptr, 0, &needed, nullptr),
      KVC_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(needed, expected.size());
  EXPECT_TRUE(contains(ctx.error(), "dst_capacity 0 is too small: the blob needs " +
                                        std::to_string(expected.size()) + " bytes"));
  for (size_t capacity : {size_t{1}, needed / 2, needed - 1}) {
    std::vector<unsigned char> dst(capacity + kCanaryBytes, kCanary);
    size_t size = 0;
    EXPECT_EQ(
        kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                     kvc_sized::nbytes(c.values), dst.data(), capacity, &size, nullptr),
        KVC_ERR_BUFFER_TOO_SMALL);
    EXPECT_EQ(size, needed);
    EXPECT_TRUE(canary_intact(dst, capacity)) << "capacity " << capacity;
  }
  std::vector<unsigned char> dst(needed + kCanaryBytes, kCanary);
  size_t size = 0;
  ASSERT_EQ(
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), dst.data(), needed, &size, nullptr),
      KVC_OK);
  EXPECT_EQ(size, needed);
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), dst.begin()));
  EXPECT_TRUE(canary_intact(dst, needed));
  EXPECT_LE(needed, kvc_compress_bound(&p, &c.shape));
}

TEST(Compress, MetricsDescribeTheBlob) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(3, 2, 64, 32);
  kvc_metrics m;
  std::memset(&m, 0, sizeof m);
  m.struct_size = sizeof m;
  const std::vector<unsigned char> blob =
      kvc_api_test::compress(ctx, kvc_api_test::params(4, 4, 32), c, &m);
  const double elements = 2.0 * 3 * 2 * 64 * 32;
  EXPECT_EQ(m.struct_size, sizeof m);
  EXPECT_EQ(m.original_bytes, 2u * 3 * 2 * 64 * 32 * 2);
  EXPECT_EQ(m.compressed_bytes, blob.size());
  EXPECT_DOUBLE_EQ(m.compression_ratio,
                   static_cast<double>(m.original_bytes) / static_cast<double>(blob.size()));
  EXPECT_DOUBLE_EQ(m.bits_per_element, 8.0 * static_cast<double>(blob.size()) / elements);
  EXPECT_DOUBLE_EQ(
      m.bandwidth_savings_percent,
      100.0 * (1.0 - static_cast<double>(blob.size()) / static_cast<double>(m.original_bytes)));
  EXPECT_GT(m.compression_ratio, 2.0);
  EXPECT_LT(m.bits_per_element, 8.0);
  EXPECT_EQ(m.tokens_total, 3u * 64);  // summed over layers
  EXPECT_EQ(m.tokens_kept, 3u * 64);
  EXPECT_EQ(m.attention_coverage, 1.0);  // nothing evicted
  EXPECT_GE(m.compress_ms, 0.0);
}

TEST(Compress, MetricsOfAnOlderStructSizeAreWrittenNoFurther) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(1, 2, 64, 32);
  std::vector<unsigned char> raw(sizeof(kvc_metrics) + kCanaryBytes, kCanary);
  const uint32_t old_size = offsetof(kvc_metrics, compression_ratio);
  std::memcpy(raw.data(), &old_size, 4);
  auto* m = reinterpret_cast<kvc_metrics*>(raw.data());
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, kvc_api_test::params(), c, m);
  EXPECT_EQ(m->struct_size, old_size);
  EXPECT_EQ(m->compressed_bytes, blob.size());
  EXPECT_TRUE(canary_intact(raw, old_size));
}

TEST(Compress, StridedInputGivesTheSameBlobAsPackedInput) {
  const uint32_t L = 3, H = 2, T = 40, D = 24;
  for (kvc_dtype dtype : {KVC_DTYPE_F16, KVC_DTYPE_BF16, KVC_DTYPE_F32}) {
    Context ctx;
    const Cache packed = kvc_api_test::gaussian_cache(L, H, T, D, dtype, 31);
    const size_t elem = kvc_test::element_bytes(dtype);
    const kvc_compress_params p = kvc_api_test::params(3, 4, 32, 5);
    const std::vector<unsigned char> expected = kvc_api_test::compress(ctx, p, packed);

    // Rows padded to D + 3, heads to T * (D + 3) + 5, layers to H * head_stride + 11 elements.
    // The padding holds NaN: a read of it would make lossy compression fail.
    const uint64_t token_stride = D + 3, head_stride = T * token_stride + 5;
    const uint64_t layer_stride = H * head_stride + 11;
    const std::vector<unsigned char> nan_element =
        dtype == KVC_DTYPE_F32 ? std::vector<unsigned char>{0, 0, 0xC0, 0x7F}
                               : std::vector<unsigned char>{0xC0, 0x7F};
    auto scatter = [&](const std::vector<unsigned char>& src, std::vector<unsigned char>& dst,
                       const std::vector<uint64_t>& layer_offsets) {
      for (size_t i = 0; i < dst.size(); i += elem) {
        std::memcpy(dst.data() + i, nan_element.data(), elem);
      }
      for (uint32_t l = 0; l < L; ++l) {
        for (uint32_t h = 0; h < H; ++h) {
          for (uint32_t t = 0; t < T; ++t) {
            const uint64_t from = ((uint64_t{l} * H + h) * T + t) * D;
            const uint64_t to = layer_offsets[l] + h * head_stride + t * token_stride;
            std::memcpy(dst.data() + to * elem, src.data() + from * elem, D * elem);
          }
        }
      }
    };
    std::vector<uint64_t> uniform(L);
    for (uint32_t l = 0; l < L; ++l) uniform[l] = l * layer_stride;
    std::vector<unsigned char> keys(L * layer_stride * elem), values(keys.size());
    scatter(packed.keys, keys, uniform);
    scatter(packed.values, values, uniform);
    kvc_cache_shape s = packed.shape;
    s.token_stride = token_stride;
    s.head_stride = head_stride;
    s.layer_stride = layer_stride;
    std::vector<unsigned char> blob(kvc_compress_bound(&p, &s));
    size_t size = 0;
    ASSERT_EQ(kvc_compress(ctx, &p, &s, keys.data(), kvc_sized::nbytes(keys), values.data(),
                           kvc_sized::nbytes(values), blob.data(), blob.size(), &size, nullptr),
              KVC_OK)
        << ctx.error();
    blob.resize(size);
    EXPECT_EQ(blob, expected) << "kvc_compress with strides, dtype " << dtype;

    // Per-layer pointers at irregular places of one bigger buffer, last layer first.
    std::vector<uint64_t> irregular = {2 * layer_stride + 1000, layer_stride + 37, 3};
    std::vector<unsigned char> big_keys((3 * layer_stride + 2000) * elem), big_values;
    big_values.resize(big_keys.size());
    scatter(packed.keys, big_keys, irregular);
    scatter(packed.values, big_values, irregular);
    std::vector<const void*> key_layers(L), value_layers(L);
    for (uint32_t l = 0; l < L; ++l) {
      key_layers[l] = big_keys.data() + irregular[l] * elem;
      value_layers[l] = big_values.data() + irregular[l] * elem;
    }
    s.layer_stride = 12345;  // not used by kvc_compress_layers
    blob.assign(kvc_compress_bound(&p, &s), 0);
    ASSERT_EQ(kvc_compress_layers(ctx, &p, &s, s.num_layers, key_layers.data(),
                                  kvc_sized::layer_sizes(s).data(), value_layers.data(),
                                  kvc_sized::layer_sizes(s).data(), blob.data(), blob.size(), &size,
                                  nullptr),
              KVC_OK)
        << ctx.error();
    blob.resize(size);
    EXPECT_EQ(blob, expected) << "kvc_compress_layers, dtype " << dtype;
  }
}

TEST(Compress, SameInputGivesTheSameBytesTwiceAndFromTwoContexts) {
  const Cache c = kvc_api_test::gaussian_cache(4, 3, 100, 64, KVC_DTYPE_BF16, 77);
  for (int bits : {2, 3, 4, 8, 16}) {
    Context a, b;
    const kvc_compress_params p = kvc_api_test::params(bits, bits, 128, 9);
    const std::vector<unsigned char> first = kvc_api_test::compress(a, p, c);
    EXPECT_EQ(kvc_api_test::compress(a, p, c), first) << bits;
    EXPECT_EQ(kvc_api_test::compress(b, p, c), first) << bits;
  }
}

TEST(Compress, TheBytesDoNotDependOnWhatTheContextCompressedBefore) {
  // 3-bit codes of 1 x 3 x 5 elements end in a partly used byte: its unused bits must not keep
  // data of an earlier, larger cache.
  const Cache big = kvc_api_test::gaussian_cache(2, 4, 300, 64, KVC_DTYPE_F16, 1);
  const Cache tiny = kvc_api_test::gaussian_cache(1, 1, 3, 5, KVC_DTYPE_F16, 2);
  for (int bits : {2, 3, 4, 8}) {
    for (int level : {0, 1}) {
      kvc_compress_params p = kvc_api_test::params(bits, bits, 32);
      p.zstd_level = level;
      Context fresh, used;
      kvc_api_test::compress(used, p, big);
      EXPECT_EQ(kvc_api_test::compress(used, p, tiny), kvc_api_test::compress(fresh, p, tiny))
          << "bits " << bits << " zstd " << level;
    }
  }
}

// Random bit patterns, NaN payloads, infinities, -0 and subnormals of every dtype.
Cache bit_pattern_cache(kvc_dtype dtype) {
  Cache c;
  c.shape = kvc_api_test::shape(2, 2, 37, 24, dtype);
  const size_t bytes = c.elements() * kvc_test::element_bytes(dtype);
  std::mt19937 rng(static_cast<uint32_t>(dtype) + 5);
  c.keys.resize(bytes);
  c.values.resize(bytes);
  for (unsigned char& b : c.keys) b = static_cast<unsigned char>(rng());
  for (size_t i = 0; i < bytes; ++i) c.values[i] = static_cast<unsigned char>(i * 7 / 5);
  const std::vector<uint32_t> f32 = {0x7FC00000u, 0xFFC00001u, 0x7F800001u, 0x7FBFFFFFu,
                                     0x7F800000u, 0xFF800000u, 0x80000000u, 0x00000001u};
  const std::vector<uint16_t> f16 = {0x7E00, 0xFE01, 0x7C01, 0x7DFF, 0x7C00, 0xFC00, 0x8000, 1};
  const std::vector<uint16_t> bf16 = {0x7FC0, 0xFFC1, 0x7F81, 0x7FBF, 0x7F80, 0xFF80, 0x8000, 1};
  for (size_t k = 0; k < 8; ++k) {
    if (dtype == KVC_DTYPE_F32) {
      std::memcpy(c.keys.data() + 4 * k, &f32[k], 4);
    } else {
      std::memcpy(c.keys.data() + 2 * k, dtype == KVC_DTYPE_F16 ? &f16[k] : &bf16[k], 2);
    }
  }
  return c;
}

TEST(Compress, SixteenBitsIsLosslessForEveryDTypeAndEntropySetting) {
  Context ctx;
  for (kvc_dtype dtype : {KVC_DTYPE_F32, KVC_DTYPE_F16, KVC_DTYPE_BF16}) {
    const Cache c = bit_pattern_cache(dtype);
    for (int level : {0, 1, 5}) {
      for (int shuffle : {KVC_SHUFFLE_AUTO, KVC_SHUFFLE_OFF, KVC_SHUFFLE_ON}) {
        kvc_compress_params p = kvc_api_test::params(16, 16);
        p.zstd_level = level;
        p.byte_shuffle = shuffle;
        const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, c);
        const kvc_api_test::Decoded d = kvc_api_test::decompress(ctx, blob);
        EXPECT_EQ(d.keys, c.keys) << dtype << " zstd " << level << " shuffle " << shuffle;
        EXPECT_EQ(d.values, c.values) << dtype << " zstd " << level << " shuffle " << shuffle;
      }
    }
  }
}

TEST(Compress, LossyQuantizationRejectsNonFiniteInputNamingLayerAndTensor) {
  Context ctx;
  for (kvc_dtype dtype : {KVC_DTYPE_F32, KVC_DTYPE_F16, KVC_DTYPE_BF16}) {
    for (bool keys : {true, false}) {
      Cache c = kvc_api_test::gaussian_cache(3, 2, 16, 8, dtype);
      const size_t elem = kvc_test::element_bytes(dtype);
      // Element 100 of layer 1: +infinity.
      const size_t index = 2 * 16 * 8 + 100;
      const uint32_t inf32 = 0x7F800000u;
      const uint16_t inf16 = dtype == KVC_DTYPE_F16 ? 0x7C00 : 0x7F80;
      std::memcpy((keys ? c.keys : c.values).data() + index * elem,
                  dtype == KVC_DTYPE_F32 ? static_cast<const void*>(&inf32) : &inf16, elem);
      const kvc_compress_params p = kvc_api_test::params();
      std::vector<unsigned char> dst(kvc_compress_bound(&p, &c.shape));
      size_t size = 0;
      EXPECT_EQ(
          kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                       kvc_sized::nbytes(c.values), dst.data(), dst.size(), &size, nullptr),
          KVC_ERR_INVALID_ARGUMENT);
      EXPECT_TRUE(contains(ctx.error(), keys ? "layer 1 keys hold a NaN or an infinity"
                                             : "layer 1 values hold a NaN or an infinity"));
    }
  }
}

TEST(Compress, Float32BeyondTheHalfRangeStillQuantizesWithinHalfAScale) {
  Context ctx;
  // Every group spans [-1e6, 1e6]: the scale 2e6/15 and the zero point -1e6 exceed fp16.
  Cache c;
  c.shape = kvc_api_test::shape(1, 1, 64, 64, KVC_DTYPE_F32);
  std::vector<float> x(64 * 64);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> uniform(-1e6f, 1e6f);
  for (float& f : x) f = uniform(rng);
  for (uint32_t t = 0; t < 64; ++t) {
    for (uint32_t d = 0; d < 64; ++d) {
      if (t == d % 64) x[t * 64 + d] = -1e6f;
      if (t == (d + 1) % 64) x[t * 64 + d] = 1e6f;
    }
  }
  c.keys = kvc_test::encode(x, kvc_test::kF32);
  c.values = c.keys;
  const std::vector<unsigned char> blob =
      kvc_api_test::compress(ctx, kvc_api_test::params(4, 4, 64), c);
  const kvc_api_test::Decoded d = kvc_api_test::decompress(ctx, blob);
  const double half_scale = 2e6 / 15 / 2;
  double worst = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    worst = std::max(worst,
                     std::fabs(kvc_test::element_value(d.keys.data(), kvc_test::kF32, i) - x[i]));
    worst = std::max(worst,
                     std::fabs(kvc_test::element_value(d.values.data(), kvc_test::kF32, i) - x[i]));
  }
  EXPECT_LE(worst, half_scale * (1 + 1e-5));  // 1e-5: float rounding of z + c * s near 1e6
  EXPECT_GT(worst, half_scale * 0.5);         // it is lossy, and not by accident exact
}

TEST(CompressParams, TheModelNameTravelsIntoTheBlobAndMustBeTerminated) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(1, 2, 40, 16);
  kvc_compress_params p = kvc_api_test::params();
  EXPECT_STREQ(p.model_name, "");
  std::snprintf(p.model_name, sizeof p.model_name, "%s", "SmolLM2-135M-Instruct");
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, c);
  kvc_blob_info info;
  info.struct_size = sizeof info;
  ASSERT_EQ(kvc_inspect(ctx, blob.data(), blob.size(), &info), KVC_OK);
  EXPECT_STREQ(info.model_name, "SmolLM2-135M-Instruct");

  std::memset(p.model_name, 'x', sizeof p.model_name);  // no NUL inside the field
  std::vector<unsigned char> out(kvc_compress_bound(&p, &c.shape));
  size_t size = 0;
  EXPECT_EQ(
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), out.data(), out.size(), &size, nullptr),
      KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(kvc_context_last_error(ctx), "model_name"));
}

TEST(CompressBound, IsZeroForAShapeWhoseTokenStrideIsBelowHeadDim) {
  kvc_cache_shape shape = kvc_api_test::shape(1, 2, 16, 32);
  const kvc_compress_params p = kvc_api_test::params();
  EXPECT_GT(kvc_compress_bound(&p, &shape), 0u);
  shape.token_stride = 16;  // rows of 32 elements cannot be 16 apart
  EXPECT_EQ(kvc_compress_bound(&p, &shape), 0u);
}

}  // namespace

TEST(Compress, ValuesNearTheTopOfFloat16StayFiniteAtEveryBitWidth) {
  // Regression (roundtrip fuzzer): a binary16 scale rounded up carried z + 255 s of a group whose
  // maximum is 65504 past 65520, which decoded to infinity.
  Context ctx;
  Cache c;
  c.shape = kvc_api_test::shape(1, 1, 64, 2);
  const uint16_t pattern[] = {0x6000, 0x7BFF, 0x1700, 0x3F00, 0x0109, 0x0201, 0x7A7F};
  c.keys.resize(64 * 2 * 2);
  c.values.resize(c.keys.size());
  for (size_t i = 0; i < 128; ++i) {
    std::memcpy(&c.keys[2 * i], &pattern[i % 7], 2);
    std::memcpy(&c.values[2 * i], &pattern[(i + 3) % 7], 2);
  }
  for (const int bits : {2, 3, 4, 8}) {
    const std::vector<unsigned char> blob =
        kvc_api_test::compress(ctx, kvc_api_test::params(bits, bits, 128), c);
    const kvc_api_test::Decoded d = kvc_api_test::decompress(ctx, blob);
    for (size_t i = 0; i < 128; ++i) {
      uint16_t k = 0, v = 0;
      std::memcpy(&k, &d.keys[2 * i], 2);
      std::memcpy(&v, &d.values[2 * i], 2);
      EXPECT_NE(k & 0x7C00, 0x7C00) << "bits " << bits << " key " << i;
      EXPECT_NE(v & 0x7C00, 0x7C00) << "bits " << bits << " value " << i;
    }
  }
}
