// exception_boundary_test.cpp: no C++ exception crosses the C ABI: every entry point, made to
// throw an exception kvc does not expect (std::runtime_error from operator new) at each of its
// allocations in turn, returns a status.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>
#include <unistd.h>

#include <cstdio>
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

// Statuses a foreign exception may become: INTERNAL from the guard, or OUT_OF_MEMORY where a
// nothrow allocation (Zstandard's) got nullptr instead.
const auto kAllowed = {KVC_ERR_INTERNAL, KVC_ERR_OUT_OF_MEMORY};

TEST(ExceptionBoundary, EveryEntryPointTurnsAForeignExceptionIntoAStatus) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 40, 32, KVC_DTYPE_F16, 3);
  const kvc_compress_params p = kvc_api_test::params(4, 2, 32, 4);
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, c);
  const kvc_api_test::Decoded decoded = kvc_api_test::decompress(ctx, blob);
  auto usable = [&](kvc_status st) {
    if (st == KVC_ERR_INTERNAL) {
      EXPECT_TRUE(kvc_api_test::contains(kvc_context_last_error(ctx), "unexpected exception"));
    }
    ASSERT_EQ(kvc_api_test::compress(ctx, p, c), blob);
  };
  auto nothing = [](kvc_status) {};

  kvc_context* made = nullptr;
  fault_loop(
      "kvc_context_create", Fault::Foreign, false, kAllowed,
      [&] { return kvc_context_create(nullptr, &made, nullptr, 0); },
      [&](kvc_status) { kvc_context_free(made), made = nullptr; });
  kvc_context_free(made);

  std::vector<unsigned char> dst(blob.size() + 4096);
  size_t size = 0;
  fault_loop(
      "kvc_compress", Fault::Foreign, false, kAllowed,
      [&] {
        return kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                            c.values.data(), kvc_sized::nbytes(c.values), dst.data(), dst.size(),
                            &size, nullptr);
      },
      usable);

  const size_t layer_bytes = c.keys.size() / c.shape.num_layers;
  const void* key_layers[2] = {c.keys.data(), c.keys.data() + layer_bytes};
  const std::vector<size_t> layer_sizes = kvc_sized::layer_sizes(c.shape);
  const void* value_layers[2] = {c.values.data(), c.values.data() + layer_bytes};
  fault_loop(
      "kvc_compress_layers", Fault::Foreign, false, kAllowed,
      [&] {
        return kvc_compress_layers(ctx, &p, &c.shape, 2, key_layers, layer_sizes.data(),
                                   value_layers, layer_sizes.data(), dst.data(), dst.size(), &size,
                                   nullptr);
      },
      usable);

  size_t bound = 0;
  fault_loop(
      "kvc_compress_bound", Fault::Foreign, false, kAllowed,
      [&] {
        bound = kvc_compress_bound(&p, &c.shape);  // 0 when it fails
        return KVC_OK;
      },
      nothing);
  EXPECT_GE(bound, blob.size());

  std::vector<unsigned char> keys(decoded.keys.size()), values(keys.size());
  size_t written = 0;
  fault_loop(
      "kvc_decompress", Fault::Foreign, false, kAllowed,
      [&] {
        return kvc_decompress(ctx, nullptr, blob.data(), blob.size(), keys.data(), values.data(),
                              keys.size(), &written);
      },
      usable);
  EXPECT_EQ(keys, decoded.keys);

  kvc_blob_info info;
  info.struct_size = sizeof info;
  fault_loop(
      "kvc_inspect", Fault::Foreign, false, kAllowed,
      [&] { return kvc_inspect(ctx, blob.data(), blob.size(), &info); }, usable);
  fault_loop(
      "kvc_verify", Fault::Foreign, false, kAllowed,
      [&] { return kvc_verify(ctx, blob.data(), blob.size()); }, usable);

  kvc_quality q;
  q.struct_size = sizeof q;
  fault_loop(
      "kvc_quality_compare", Fault::Foreign, false, kAllowed,
      [&] {
        return kvc_quality_compare(ctx, nullptr, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                                   c.values.data(), kvc_sized::nbytes(c.values), &c.shape,
                                   decoded.keys.data(), kvc_sized::nbytes(decoded.keys),
                                   decoded.values.data(), kvc_sized::nbytes(decoded.values), &q);
      },
      usable);

  const std::string path =
      ::testing::TempDir() + "/kvc_throw_" + std::to_string(getpid()) + ".safetensors";
  fault_loop(
      "kvc_cache_save", Fault::Foreign, false, kAllowed,
      [&] {
        return kvc_cache_save(ctx, path.c_str(), &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys),
                              c.values.data(), kvc_sized::nbytes(c.values), "m");
      },
      usable);
  kvc_cache* cache = nullptr;
  fault_loop(
      "kvc_cache_load", Fault::Foreign, false, kAllowed,
      [&] { return kvc_cache_load(ctx, path.c_str(), &cache); },
      [&](kvc_status) { kvc_cache_free(cache), cache = nullptr; });
  kvc_cache_free(cache);
  std::remove(path.c_str());
  std::remove((path.substr(0, path.size() - 12) + ".metadata.json").c_str());

  const std::string config = R"({"model_type": "llama", "num_hidden_layers": 2,
      "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_size": 256})";
  kvc_adapter* adapter = nullptr;
  fault_loop(
      "kvc_adapter_from_hf_config", Fault::Foreign, false, kAllowed,
      [&] { return kvc_adapter_from_hf_config(ctx, config.data(), config.size(), &adapter); },
      [&](kvc_status) { kvc_adapter_free(adapter), adapter = nullptr; });
  kvc_adapter_free(adapter);
  // stories260K.gguf's header and metadata, as in the file (a committed fuzz seed).
  const std::string gguf =
      std::string(KVC_SOURCE_DIR) + "/tests/fuzz/corpus/model_config/gguf_stories260k_header.gguf";
  fault_loop(
      "kvc_adapter_from_gguf", Fault::Foreign, false, kAllowed,
      [&] { return kvc_adapter_from_gguf(ctx, gguf.c_str(), &adapter); },
      [&](kvc_status) { kvc_adapter_free(adapter), adapter = nullptr; });
  kvc_adapter_free(adapter);
  const kvc_adapter* found = nullptr;
  fault_loop(
      "kvc_adapter_find", Fault::Foreign, false, kAllowed,
      [&] { return kvc_adapter_find("llama-3-8b", &found); }, nothing);
  EXPECT_NE(found, nullptr);

  fault_loop(
      "kvc_context_set_progress", Fault::Foreign, false, kAllowed,
      [&] {
        return kvc_context_set_progress(
            ctx, [](void*, uint64_t, uint64_t) {}, nullptr);
      },
      usable);
}

}  // namespace
