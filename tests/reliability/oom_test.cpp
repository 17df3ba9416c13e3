// oom_test.cpp: out-of-memory fault injection: allocation N fails (only N, or N and all later) in
// compress, decompress, inspect, verify, cache save and load, and adapters from config.json and
// GGUF; every call returns KVC_OK or KVC_ERR_OUT_OF_MEMORY, leaks nothing (LeakSanitizer in the
// ASan build) and the context works afterwards.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../sized_buffers.h"
#include "api/api_helpers.h"
#include "reliability/fault_loop.h"
#include "reliability/reliability_helpers.h"

namespace {

using kvc_alloc::Fault;
using kvc_api_test::Cache;
using kvc_api_test::Context;
using kvc_reliability::fault_loop;

// A small cache with the given setting, its blob and its decoded tensors.
struct Fixture {
  Cache cache = kvc_api_test::gaussian_cache(2, 2, 70, 64, KVC_DTYPE_F16, 5);
  kvc_compress_params params;
  std::vector<unsigned char> blob;
  kvc_api_test::Decoded decoded;

  explicit Fixture(kvc_context* ctx, const kvc_reliability::Setting& s)
      : params(kvc_reliability::params_of(s)) {
    blob = kvc_api_test::compress(ctx, params, cache);
    decoded = kvc_api_test::decompress(ctx, blob);
  }
};

// Checks after a faulted call that ctx still compresses and decompresses to the same bytes.
void expect_context_usable(kvc_context* ctx, const Fixture& f) {
  ASSERT_EQ(kvc_api_test::compress(ctx, f.params, f.cache), f.blob);
  const kvc_api_test::Decoded d = kvc_api_test::decompress(ctx, f.blob);
  ASSERT_EQ(d.keys, f.decoded.keys);
  ASSERT_EQ(d.values, f.decoded.values);
}

class OutOfMemory : public ::testing::TestWithParam<bool> {};  // persistent or transient

TEST_P(OutOfMemory, EveryCallReportsItAndTheContextStaysUsable) {
  const bool persistent = GetParam();
  Context ctx;
  for (const kvc_reliability::Setting& s :
       {kvc_reliability::sweep_settings()[0], kvc_reliability::sweep_settings()[3]}) {
    SCOPED_TRACE(s.name);
    const Fixture f(ctx, s);
    auto after = [&](kvc_status st) {
      if (st != KVC_OK) {
        EXPECT_STREQ(kvc_context_last_error(ctx),
                     st == KVC_ERR_OUT_OF_MEMORY ? "out of memory" : "");
      }
      expect_context_usable(ctx, f);
    };
    auto after_cold = [&](kvc_status) { expect_context_usable(ctx, f); };

    std::vector<unsigned char> dst(f.blob.size() + 4096);
    size_t size = 0;
    fault_loop(("compress " + s.name).c_str(), Fault::BadAlloc, persistent, {KVC_ERR_OUT_OF_MEMORY},
               [&] {
                 return kvc_compress(ctx, &f.params, &f.cache.shape, f.cache.keys.data(),
                                     kvc_sized::nbytes(f.cache.keys), f.cache.values.data(),
                                     kvc_sized::nbytes(f.cache.values), dst.data(), dst.size(),
                                     &size, nullptr);
               },
               after);

    std::vector<unsigned char> keys(f.decoded.keys.size()), values(keys.size());
    size_t written = 0;
    fault_loop(("decompress " + s.name).c_str(), Fault::BadAlloc, persistent,
               {KVC_ERR_OUT_OF_MEMORY},
               [&] {
                 return kvc_decompress(ctx, nullptr, f.blob.data(), f.blob.size(), keys.data(),
                                       values.data(), keys.size(), &written);
               },
               after);

    // Cold: a new context each call, so first-use allocations (Zstandard workspaces, scratch
    // space) are failed too.
    fault_loop(("cold compress " + s.name).c_str(), Fault::BadAlloc, persistent,
               {KVC_ERR_OUT_OF_MEMORY},
               [&] {
                 kvc_context* cold = nullptr;
                 kvc_status st = kvc_context_create(nullptr, &cold, nullptr, 0);
                 if (st == KVC_OK) {
                   st = kvc_compress(cold, &f.params, &f.cache.shape, f.cache.keys.data(),
                                     kvc_sized::nbytes(f.cache.keys), f.cache.values.data(),
                                     kvc_sized::nbytes(f.cache.values), dst.data(), dst.size(),
                                     &size, nullptr);
                 }
                 kvc_context_free(cold);
                 return st;
               },
               after_cold);
    fault_loop(("cold decompress " + s.name).c_str(), Fault::BadAlloc, persistent,
               {KVC_ERR_OUT_OF_MEMORY},
               [&] {
                 kvc_context* cold = nullptr;
                 kvc_status st = kvc_context_create(nullptr, &cold, nullptr, 0);
                 if (st == KVC_OK) {
                   st = kvc_decompress(cold, nullptr, f.blob.data(), f.blob.size(), keys.data(),
                                       values.data(), keys.size(), &written);
                 }
                 kvc_context_free(cold);
                 return st;
               },
               after_cold);

    kvc_blob_info info;
    info.struct_size = sizeof info;
    fault_loop(("inspect " + s.name).c_str(), Fault::BadAlloc, persistent, {KVC_ERR_OUT_OF_MEMORY},
               [&] { return kvc_inspect(ctx, f.blob.data(), f.blob.size(), &info); }, after);
    fault_loop(("verify " + s.name).c_str(), Fault::BadAlloc, persistent, {KVC_ERR_OUT_OF_MEMORY},
               [&] { return kvc_verify(ctx, f.blob.data(), f.blob.size()); }, after);
  }
}

TEST_P(OutOfMemory, CacheLoadReportsItAndFreesEverything) {
  const bool persistent = GetParam();
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 16, 32, KVC_DTYPE_BF16, 9);
  const std::string path =
      ::testing::TempDir() + "/kvc_oom_" + std::to_string(getpid()) + ".safetensors";
  ASSERT_EQ(kvc_cache_save(ctx, path.c_str(), &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                           c.values.data(), kvc_sized::nbytes(c.values), "m"),
            KVC_OK);
  kvc_cache* cache = nullptr;
  fault_loop(
      "cache load", Fault::BadAlloc, persistent, {KVC_ERR_OUT_OF_MEMORY},
      [&] { return kvc_cache_load(ctx, path.c_str(), &cache); },
      [&](kvc_status st) {
        if (st != KVC_OK) EXPECT_EQ(cache, nullptr);
        kvc_cache_free(cache);
        cache = nullptr;
        kvc_cache* again = nullptr;
        ASSERT_EQ(kvc_cache_load(ctx, path.c_str(), &again), KVC_OK);
        EXPECT_EQ(0, std::memcmp(kvc_cache_keys(again), c.keys.data(), c.keys.size()));
        kvc_cache_free(again);
      });
  kvc_cache_free(cache);
  std::remove(path.c_str());
  std::remove((path.substr(0, path.size() - 12) + ".metadata.json").c_str());
}

// A failed save leaves the earlier pair of files (cache and sidecar) as it was, and no temporary.
TEST_P(OutOfMemory, CacheSaveReportsItAndKeepsTheEarlierFiles) {
  const bool persistent = GetParam();
  Context ctx;
  const Cache earlier = kvc_api_test::gaussian_cache(2, 2, 16, 32, KVC_DTYPE_BF16, 9);
  const Cache c = kvc_api_test::gaussian_cache(3, 1, 24, 64, KVC_DTYPE_F16, 11);
  const std::string stem = ::testing::TempDir() + "/kvc_oom_save_" + std::to_string(getpid());
  const std::string path = stem + ".safetensors", sidecar = stem + ".metadata.json";
  const std::string pid = std::to_string(getpid());
  ASSERT_EQ(kvc_cache_save(ctx, path.c_str(), &earlier.shape, earlier.keys.data(),
                           kvc_sized::nbytes(earlier.keys), earlier.values.data(),
                           kvc_sized::nbytes(earlier.values), "m"),
            KVC_OK);
  fault_loop(
      "cache save", Fault::BadAlloc, persistent, {KVC_ERR_OUT_OF_MEMORY},
      [&] {
        return kvc_cache_save(ctx, path.c_str(), &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                              c.values.data(), kvc_sized::nbytes(c.values), "m");
      },
      [&](kvc_status st) {
        for (const auto& entry :
             std::filesystem::directory_iterator(std::filesystem::path(path).parent_path())) {
          const std::string name = entry.path().filename().string();
          EXPECT_FALSE(name.starts_with("kvc_oom_save_" + pid) &&
                       name.find(".tmp.") != std::string::npos)
              << "temporary file left: " << name;
        }
        kvc_cache* loaded = nullptr;
        ASSERT_EQ(kvc_cache_load(ctx, path.c_str(), &loaded), KVC_OK)
            << kvc_context_last_error(ctx);
        const Cache& expected = st == KVC_OK ? c : earlier;
        kvc_cache_shape shape;
        kvc_cache_shape_default(&shape, sizeof shape);
        ASSERT_EQ(kvc_cache_get_shape(loaded, &shape), KVC_OK);
        EXPECT_EQ(shape.num_layers, expected.shape.num_layers);
        EXPECT_EQ(0,
                  std::memcmp(kvc_cache_keys(loaded), expected.keys.data(), expected.keys.size()));
        kvc_cache_free(loaded);
        // Back to the earlier pair for the next call.
        ASSERT_EQ(kvc_cache_save(ctx, path.c_str(), &earlier.shape, earlier.keys.data(),
                                 kvc_sized::nbytes(earlier.keys), earlier.values.data(),
                                 kvc_sized::nbytes(earlier.values), "m"),
                  KVC_OK);
      });
  std::remove(path.c_str());
  std::remove(sidecar.c_str());
}

// The adapter of a config.json or GGUF file: none on failure, the same one after it.
void expect_adapter_usable(kvc_status st, kvc_adapter*& adapter, int32_t num_layers,
                           int32_t head_dim) {
  if (st != KVC_OK) EXPECT_EQ(adapter, nullptr);
  kvc_adapter_info info;
  info.struct_size = sizeof info;
  if (adapter != nullptr) {
    ASSERT_EQ(kvc_adapter_get_info(adapter, &info), KVC_OK);
    EXPECT_EQ(info.num_layers, num_layers);
    EXPECT_EQ(info.head_dim, head_dim);
  }
  kvc_adapter_free(adapter);
  adapter = nullptr;
}

TEST_P(OutOfMemory, AdapterFromHfConfigReportsItAndFreesEverything) {
  const bool persistent = GetParam();
  Context ctx;
  // SmolLM2-135M's published config.json (the fields the reader uses, and some others).
  const std::string config = R"({"_name_or_path": "HuggingFaceTB/SmolLM2-135M",
      "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
      "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3,
      "max_position_embeddings": 8192, "rope_scaling": null, "rope_theta": 100000})";
  kvc_adapter* adapter = nullptr;
  fault_loop(
      "adapter from config.json", Fault::BadAlloc, persistent, {KVC_ERR_OUT_OF_MEMORY},
      [&] { return kvc_adapter_from_hf_config(ctx, config.data(), config.size(), &adapter); },
      [&](kvc_status st) {
        expect_adapter_usable(st, adapter, 30, 64);
        ASSERT_EQ(kvc_adapter_from_hf_config(ctx, config.data(), config.size(), &adapter), KVC_OK);
        expect_adapter_usable(KVC_OK, adapter, 30, 64);
      });
  kvc_adapter_free(adapter);
}

TEST_P(OutOfMemory, AdapterFromGgufReportsItAndFreesEverything) {
  const bool persistent = GetParam();
  Context ctx;
  // stories260K.gguf up to the end of its tensor infos (the metadata the reader needs, as in the
  // file); committed as a fuzz seed.
  const std::string path =
      std::string(KVC_SOURCE_DIR) + "/tests/fuzz/corpus/model_config/gguf_stories260k_header.gguf";
  kvc_adapter* adapter = nullptr;
  fault_loop(
      "adapter from GGUF", Fault::BadAlloc, persistent, {KVC_ERR_OUT_OF_MEMORY},
      [&] { return kvc_adapter_from_gguf(ctx, path.c_str(), &adapter); },
      [&](kvc_status st) {
        expect_adapter_usable(st, adapter, 5, 8);
        ASSERT_EQ(kvc_adapter_from_gguf(ctx, path.c_str(), &adapter), KVC_OK)
            << kvc_context_last_error(ctx);
        expect_adapter_usable(KVC_OK, adapter, 5, 8);
      });
  kvc_adapter_free(adapter);
}

TEST(OutOfMemory, ContextCreateReportsIt) {
  kvc_context* ctx = nullptr;
  for (bool persistent : {false, true}) {
    fault_loop(
        "context create", Fault::BadAlloc, persistent, {KVC_ERR_OUT_OF_MEMORY},
        [&] { return kvc_context_create(nullptr, &ctx, nullptr, 0); },
        [&](kvc_status st) {
          if (st != KVC_OK) EXPECT_EQ(ctx, nullptr);
          kvc_context_free(ctx);
          ctx = nullptr;
        });
    kvc_context_free(ctx);
    ctx = nullptr;
  }
}

INSTANTIATE_TEST_SUITE_P(Faults, OutOfMemory, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Persistent" : "Transient"; });

}  // namespace
