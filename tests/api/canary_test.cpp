// canary_test.cpp: compress, decompress, inspect and adapter info write nothing past the buffer
// or struct size they are given, on success and on KVC_ERR_BUFFER_TOO_SMALL (which reports the
// size needed).
#include "api/canary.h"

#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>

#include <cstddef>
#include <cstring>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"

namespace {

using kvc_api_test::CanaryBuffer;
using kvc_api_test::Context;

TEST(Canary, CompressWritesNothingPastTheCapacity) {
  Context ctx;
  for (const kvc_compress_params& p :
       {kvc_api_test::params(4, 2, 32, 3), kvc_api_test::params(16, 16, 64, 0)}) {
    const kvc_api_test::Cache c = kvc_api_test::gaussian_cache(2, 2, 50, 64);
    const std::vector<unsigned char> reference = kvc_api_test::compress(ctx, p, c);
    const size_t n = reference.size();
    ASSERT_GT(n, 8u);
    for (size_t capacity : {size_t{0}, size_t{1}, size_t{8}, n / 2, n - 1, n, n + 1}) {
      CanaryBuffer dst(capacity);
      size_t size = 0;
      const kvc_status st =
          kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                       kvc_sized::nbytes(c.values), dst.data(), capacity, &size, nullptr);
      EXPECT_TRUE(dst.intact()) << "capacity " << capacity;
      EXPECT_EQ(size, n) << "capacity " << capacity;
      if (capacity < n) {
        EXPECT_EQ(st, KVC_ERR_BUFFER_TOO_SMALL) << "capacity " << capacity;
      } else {
        ASSERT_EQ(st, KVC_OK);
        EXPECT_EQ(dst.contents(n), reference);
      }
    }
  }
}

TEST(Canary, DecompressWritesNothingPastTheCapacityOrOnTooSmall) {
  Context ctx;
  const kvc_api_test::Cache c = kvc_api_test::gaussian_cache(3, 2, 33, 32, KVC_DTYPE_BF16);
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, kvc_api_test::params(), c);
  for (kvc_dtype dtype : {KVC_DTYPE_AS_STORED, KVC_DTYPE_F32, KVC_DTYPE_F16}) {
    for (uint32_t first : {0u, 1u}) {
      kvc_decompress_params p;
      ASSERT_EQ(kvc_decompress_params_default(&p, sizeof p), KVC_OK);
      p.dtype = dtype;
      p.first_layer = first;
      p.num_layers = first ? 1 : 0;
      const kvc_api_test::Decoded ref =
          kvc_api_test::decompress(ctx, blob, dtype, first, first ? 1 : 0);
      const size_t n = ref.keys.size();
      ASSERT_GT(n, 1u);
      for (size_t capacity : {size_t{0}, size_t{1}, n - 1, n, n + 3}) {
        CanaryBuffer keys(capacity), values(capacity);
        size_t written = 0;
        const kvc_status st = kvc_decompress(ctx, &p, blob.data(), blob.size(), keys.data(),
                                             values.data(), capacity, &written);
        EXPECT_TRUE(keys.intact() && values.intact()) << "capacity " << capacity;
        EXPECT_EQ(written, n);
        if (capacity < n) {
          EXPECT_EQ(st, KVC_ERR_BUFFER_TOO_SMALL);
          EXPECT_TRUE(keys.untouched() && values.untouched()) << "capacity " << capacity;
        } else {
          ASSERT_EQ(st, KVC_OK);
          EXPECT_EQ(keys.contents(n), ref.keys);
          EXPECT_EQ(values.contents(n), ref.values);
        }
      }
    }
  }
}

// A struct whose caller compiled an older, shorter version: only struct_size bytes are written.
template <class T, class Call>
void expect_struct_size_respected(Call&& call) {
  for (uint32_t size : {uint32_t{8}, uint32_t{12}, static_cast<uint32_t>(sizeof(T) - 1),
                        static_cast<uint32_t>(sizeof(T))}) {
    CanaryBuffer out(size);
    T* info = reinterpret_cast<T*>(out.data());
    std::memcpy(out.data(), &size, sizeof size);
    EXPECT_EQ(call(info), KVC_OK) << "struct_size " << size;
    EXPECT_TRUE(out.intact()) << "struct_size " << size;
    uint32_t kept = 0;
    std::memcpy(&kept, out.data(), sizeof kept);
    EXPECT_EQ(kept, size);
  }
}

TEST(Canary, InspectAndAdapterInfoWriteNoFurtherThanStructSize) {
  Context ctx;
  const kvc_api_test::Cache c = kvc_api_test::gaussian_cache(1, 1, 20, 32);
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, kvc_api_test::params(), c);
  // kvc_blob_info lives in an aligned buffer of exactly struct_size bytes plus the canary.
  expect_struct_size_respected<kvc_blob_info>(
      [&](kvc_blob_info* info) { return kvc_inspect(ctx, blob.data(), blob.size(), info); });
  const kvc_adapter* adapter = nullptr;
  ASSERT_EQ(kvc_adapter_get(0, &adapter), KVC_OK);
  expect_struct_size_respected<kvc_adapter_info>(
      [&](kvc_adapter_info* info) { return kvc_adapter_get_info(adapter, info); });
}

}  // namespace
