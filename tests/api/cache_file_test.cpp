// cache_file_test.cpp: C API section "Cache files": load and save, and real caches end to end.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"
#include "unit/test_data.h"

namespace {

using kvc_api_test::Cache;
using kvc_api_test::contains;
using kvc_api_test::Context;

namespace fs = std::filesystem;

// A directory of this test process, removed at the end of the test.
class ScratchDir {
 public:
  ScratchDir()
      : path_(fs::temp_directory_path() /
              ("kvc-api-test-" + std::to_string(getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

// A loaded cache, freed at scope end.
struct LoadedCache {
  kvc_cache* cache = nullptr;
  ~LoadedCache() { kvc_cache_free(cache); }
  Cache copy() const {
    Cache c;
    c.shape.struct_size = sizeof c.shape;
    EXPECT_EQ(kvc_cache_get_shape(cache, &c.shape), KVC_OK);
    const size_t bytes = c.elements() * kvc_test::element_bytes(c.shape.dtype);
    const auto* k = static_cast<const unsigned char*>(kvc_cache_keys(cache));
    const auto* v = static_cast<const unsigned char*>(kvc_cache_values(cache));
    c.keys.assign(k, k + bytes);
    c.values.assign(v, v + bytes);
    return c;
  }
};

bool print_figures() { return std::getenv("KVC_TEST_PRINT_FIGURES") != nullptr; }

TEST(CacheFile, LoadingAMissingFileIsAnIoErrorNamingThePath) {
  Context ctx;
  ScratchDir dir;
  const std::string path = dir.file("no-such-cache.safetensors");
  kvc_cache* cache = reinterpret_cast<kvc_cache*>(&dir);  // must be reset to NULL
  EXPECT_EQ(kvc_cache_load(ctx, path.c_str(), &cache), KVC_ERR_IO);
  EXPECT_EQ(cache, nullptr);
  EXPECT_TRUE(contains(ctx.error(), path));
}

TEST(CacheFile, LoadRejectsNullArgumentsWithTheirNames) {
  Context ctx;
  kvc_cache* cache = nullptr;
  EXPECT_EQ(kvc_cache_load(ctx, nullptr, &cache), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "path is NULL"));
  EXPECT_EQ(kvc_cache_load(ctx, "x.safetensors", nullptr), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "out_cache is NULL"));
}

TEST(CacheFile, AccessorsOfANullCacheAreSafe) {
  EXPECT_EQ(kvc_cache_keys(nullptr), nullptr);
  EXPECT_EQ(kvc_cache_values(nullptr), nullptr);
  EXPECT_STREQ(kvc_cache_model_name(nullptr), "");
  kvc_cache_shape s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(kvc_cache_get_shape(nullptr, &s), KVC_ERR_INVALID_ARGUMENT);
}

TEST(CacheFile, SavedCachesLoadBackBitForBitInEveryDType) {
  Context ctx;
  ScratchDir dir;
  for (kvc_dtype dtype : {KVC_DTYPE_F32, KVC_DTYPE_F16, KVC_DTYPE_BF16}) {
    const Cache c = kvc_api_test::gaussian_cache(3, 2, 20, 16, dtype, 40 + dtype);
    const std::string path = dir.file("cache" + std::to_string(dtype) + ".safetensors");
    ASSERT_EQ(kvc_cache_save(ctx, path.c_str(), &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                             c.values.data(), kvc_sized::nbytes(c.values), "tiny-test-model"),
              KVC_OK)
        << ctx.error();
    EXPECT_EQ(ctx.error(), "");
    LoadedCache loaded;
    ASSERT_EQ(kvc_cache_load(ctx, path.c_str(), &loaded.cache), KVC_OK) << ctx.error();
    const Cache back = loaded.copy();
    EXPECT_EQ(back.shape.num_layers, 3u);
    EXPECT_EQ(back.shape.num_kv_heads, 2u);
    EXPECT_EQ(back.shape.num_tokens, 20u);
    EXPECT_EQ(back.shape.head_dim, 16u);
    EXPECT_EQ(back.shape.dtype, dtype);
    EXPECT_EQ(back.keys, c.keys);
    EXPECT_EQ(back.values, c.values);
    EXPECT_STREQ(kvc_cache_model_name(loaded.cache), "tiny-test-model");
    // A newer shape struct is refused.
    kvc_cache_shape newer{};
    newer.struct_size = sizeof newer + 8;
    EXPECT_EQ(kvc_cache_get_shape(loaded.cache, &newer), KVC_ERR_UNSUPPORTED_VERSION);
  }
}

TEST(CacheFile, SavingIntoAMissingDirectoryIsAnIoErrorNamingThePath) {
  Context ctx;
  ScratchDir dir;
  const Cache c = kvc_api_test::gaussian_cache(1, 1, 4, 8);
  const std::string path = dir.file("missing/sub/cache.safetensors");
  EXPECT_EQ(kvc_cache_save(ctx, path.c_str(), &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                           c.values.data(), kvc_sized::nbytes(c.values), nullptr),
            KVC_ERR_IO);
  EXPECT_TRUE(contains(ctx.error(), path));
  EXPECT_EQ(kvc_cache_save(ctx, nullptr, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                           c.values.data(), kvc_sized::nbytes(c.values), nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "path is NULL"));
  EXPECT_EQ(kvc_cache_save(ctx, path.c_str(), nullptr, c.keys.data(), kvc_sized::nbytes(c.keys),
                           c.values.data(), kvc_sized::nbytes(c.values), nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "shape is NULL"));
}

struct RealCase {
  const char* file;
  uint32_t layers, heads, tokens, head_dim;
  const char* model;
};

TEST(CacheFile, TheExampleCachesLoadWithTheirShapesAndModelNames) {
  const RealCase cases[] = {{"stories260K.safetensors", 5, 4, 512, 8, "stories260K"},
                            {"smollm2-135m.safetensors", 30, 3, 1024, 64, "smollm2-135m"}};
  size_t found = 0;
  for (const RealCase& r : cases) {
    const std::string path = kvc_test::data_path(r.file);
    if (!kvc_test::file_exists(path)) continue;
    ++found;
    Context ctx;
    LoadedCache loaded;
    ASSERT_EQ(kvc_cache_load(ctx, path.c_str(), &loaded.cache), KVC_OK) << ctx.error();
    kvc_cache_shape s{};
    s.struct_size = sizeof s;
    ASSERT_EQ(kvc_cache_get_shape(loaded.cache, &s), KVC_OK);
    EXPECT_EQ(s.num_layers, r.layers);
    EXPECT_EQ(s.num_kv_heads, r.heads);
    EXPECT_EQ(s.num_tokens, r.tokens);
    EXPECT_EQ(s.head_dim, r.head_dim);
    EXPECT_EQ(s.dtype, KVC_DTYPE_F16);
    EXPECT_STREQ(kvc_cache_model_name(loaded.cache), r.model);
  }
  if (found == 0) {
    GTEST_SKIP() << "no example cache in " << kvc_test::data_path("")
                 << ": copy them there (python3 scripts/kvcache/make_example_caches.py --out DIR "
                    "--model all)";
  }
}

// Floors for SmolLM2-135M through the C API (measured: see quant_groupwise_test.cpp).
struct Floor {
  int bits, group;
  double min_cosine;
  int min_level;
};

TEST(CacheFile, SmolLM2CompressedThroughTheCApiMeetsItsQualityFloors) {
  const std::string path = kvc_test::data_path("smollm2-135m.safetensors");
  if (!kvc_test::file_exists(path)) {
    GTEST_SKIP() << path << " is absent: copy it there (python3 "
                 << "scripts/kvcache/make_example_caches.py --out DIR --model all)";
  }
  Context ctx;
  LoadedCache loaded;
  ASSERT_EQ(kvc_cache_load(ctx, path.c_str(), &loaded.cache), KVC_OK) << ctx.error();
  const Cache original = loaded.copy();
  // Measured (key, value cosine): 8-bit g128 0.999995, 0.999984; 4-bit g128 0.99860, 0.99542;
  // 4-bit g32 0.99921, 0.99668; 2-bit g32 0.9806, 0.9269.
  const Floor floors[] = {{8, 128, 0.99998, KVC_QUALITY_EXCELLENT},
                          {4, 128, 0.995, KVC_QUALITY_GOOD},
                          {4, 32, 0.996, KVC_QUALITY_GOOD},
                          {2, 32, 0.92, KVC_QUALITY_POOR}};
  for (const Floor& f : floors) {
    kvc_metrics m{};
    m.struct_size = sizeof m;
    const std::vector<unsigned char> blob =
        kvc_api_test::compress(ctx, kvc_api_test::params(f.bits, f.bits, f.group), original, &m);
    ASSERT_EQ(kvc_verify(ctx, blob.data(), blob.size()), KVC_OK) << ctx.error();
    const kvc_api_test::Decoded d = kvc_api_test::decompress(ctx, blob);
    kvc_quality q{};
    q.struct_size = sizeof q;
    ASSERT_EQ(kvc_quality_compare(ctx, nullptr, &original.shape, original.keys.data(),
                                  kvc_sized::nbytes(original.keys), original.values.data(),
                                  kvc_sized::nbytes(original.values), &original.shape,
                                  d.keys.data(), kvc_sized::nbytes(d.keys), d.values.data(),
                                  kvc_sized::nbytes(d.values), &q),
              KVC_OK);
    const std::string where =
        "bits " + std::to_string(f.bits) + " group " + std::to_string(f.group);
    EXPECT_GE(q.key_cosine, f.min_cosine) << where;
    EXPECT_GE(q.value_cosine, f.min_cosine) << where;
    EXPECT_GE(q.level, f.min_level) << where;
    EXPECT_GT(m.compression_ratio, 16.0 / (f.bits + 1.5)) << where;
    if (print_figures()) {
      std::printf(
          "api smollm2 bits %d group %3d: key cos %.6f snr %.2f, value cos %.6f snr %.2f, "
          "level %s, ratio %.2f, %.3f bits/element\n",
          f.bits, f.group, q.key_cosine, q.key_snr_db, q.value_cosine, q.value_snr_db,
          kvc_quality_level_name(q.level), m.compression_ratio, m.bits_per_element);
    }
  }
}

}  // namespace
