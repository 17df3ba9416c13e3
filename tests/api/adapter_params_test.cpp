// adapter_params_test.cpp: an adapter turned into a cache shape and compress params.
#include <kvc/kvc_tools.h>

#include <cstddef>

#include "api/api_helpers.h"

namespace {

const kvc_adapter* find(const char* name) {
  const kvc_adapter* a = nullptr;
  EXPECT_EQ(kvc_adapter_find(name, &a), KVC_OK) << name;
  return a;
}

kvc_adapter_info info_of(const kvc_adapter* a) {
  kvc_adapter_info info{};
  info.struct_size = sizeof info;
  EXPECT_EQ(kvc_adapter_get_info(a, &info), KVC_OK);
  return info;
}

TEST(AdapterShape, AnOpenModelGivesItsPublishedShape) {
  const kvc_adapter* a = find("llama-3-8b");
  kvc_cache_shape s{};
  s.struct_size = sizeof s;
  ASSERT_EQ(kvc_adapter_cache_shape(a, 1000, KVC_DTYPE_BF16, &s), KVC_OK);
  const kvc_adapter_info info = info_of(a);
  EXPECT_EQ(s.num_layers, static_cast<uint32_t>(info.num_layers));
  EXPECT_EQ(s.num_kv_heads, static_cast<uint32_t>(info.num_kv_heads));
  EXPECT_EQ(s.head_dim, static_cast<uint32_t>(info.head_dim));
  EXPECT_EQ(s.num_tokens, 1000u);
  EXPECT_EQ(s.dtype, KVC_DTYPE_BF16);
  EXPECT_EQ(s.layer_stride, 0u);
  EXPECT_EQ(s.head_stride, 0u);
  EXPECT_EQ(s.token_stride, 0u);
}

TEST(AdapterShape, LatentAttentionIsOneHeadOfLatentPlusRopeKey) {
  const kvc_adapter* a = find("deepseek-v3");
  const kvc_adapter_info info = info_of(a);
  kvc_cache_shape s{};
  s.struct_size = sizeof s;
  ASSERT_EQ(kvc_adapter_cache_shape(a, 16, KVC_DTYPE_F16, &s), KVC_OK);
  EXPECT_EQ(s.num_kv_heads, 1u);
  EXPECT_EQ(s.head_dim, static_cast<uint32_t>(info.latent_dim + info.rope_key_dim));
}

TEST(AdapterShape, AClosedModelHasNoShape) {
  kvc_cache_shape s{};
  s.struct_size = sizeof s;
  EXPECT_EQ(kvc_adapter_cache_shape(find("gpt-4"), 100, KVC_DTYPE_F16, &s),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_adapter_cache_shape(find("llama-3-8b"), 100, 9, &s), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_adapter_cache_shape(nullptr, 100, KVC_DTYPE_F16, &s), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_adapter_cache_shape(find("llama-3-8b"), 100, KVC_DTYPE_F16, nullptr),
            KVC_ERR_INVALID_ARGUMENT);
}

TEST(AdapterParams, ThePolicyFillsItsFieldsAndLeavesTheOthers) {
  const kvc_adapter* a = find("gpt-4");
  const kvc_adapter_info info = info_of(a);
  kvc_compress_params p{};
  ASSERT_EQ(kvc_compress_params_default(&p, sizeof p), KVC_OK);
  p.zstd_level = 5;
  p.selection = KVC_SELECT_ATTENTION;
  p.sliding_window = 77;
  ASSERT_EQ(kvc_adapter_compress_params(a, &p), KVC_OK);
  EXPECT_FLOAT_EQ(p.attention_threshold, 0.92f);  // the Awareness SDK table's figure for gpt-4
  EXPECT_EQ(p.key_bits, info.key_bits);
  EXPECT_EQ(p.value_bits, info.value_bits);
  EXPECT_EQ(p.group_size, info.group_size);
  EXPECT_EQ(p.recent_full_precision_tokens, info.recent_tokens);
  EXPECT_EQ(p.recent_always_kept_tokens, static_cast<uint32_t>(info.recent_tokens));
  EXPECT_EQ(p.sink_tokens, static_cast<uint32_t>(info.sink_tokens));
  EXPECT_EQ(p.sliding_window, 0u);  // causal attention reads every token
  EXPECT_STREQ(p.model_name, "gpt-4");
  EXPECT_EQ(p.zstd_level, 5);  // not a policy field
  EXPECT_EQ(p.selection, KVC_SELECT_ATTENTION);
  // The params compress.
  kvc_api_test::Context ctx;
  const kvc_api_test::Cache cache = kvc_api_test::gaussian_cache(1, 1, 100, 128);
  p.selection = KVC_SELECT_NONE;
  EXPECT_FALSE(kvc_api_test::compress(ctx, p, cache).empty());
}

TEST(AdapterParams, SlidingWindowAttentionSetsTheWindow) {
  kvc_compress_params p{};
  ASSERT_EQ(kvc_compress_params_default(&p, sizeof p), KVC_OK);
  ASSERT_EQ(kvc_adapter_compress_params(find("mistral-7b"), &p), KVC_OK);
  EXPECT_EQ(p.sliding_window, 4096u);
  EXPECT_FLOAT_EQ(p.attention_threshold, 0.87f);
}

TEST(AdapterParams, AnOlderStructIsWrittenNoFurtherThanItsSize) {
  struct {
    kvc_compress_params p;
    unsigned char guard[8];
  } older{};
  const auto size = static_cast<uint32_t>(offsetof(kvc_compress_params, selection));
  ASSERT_EQ(kvc_compress_params_default(&older.p, size), KVC_OK);
  older.p.selection = 42;  // beyond the caller's struct: must stay
  ASSERT_EQ(kvc_adapter_compress_params(find("llama-3-8b"), &older.p), KVC_OK);
  EXPECT_EQ(older.p.selection, 42);
  EXPECT_EQ(older.p.struct_size, size);
  EXPECT_STREQ(older.p.model_name, "llama-3-8b");
  kvc_compress_params bad{};
  bad.struct_size = 4;
  EXPECT_EQ(kvc_adapter_compress_params(find("llama-3-8b"), &bad), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_adapter_compress_params(nullptr, &bad), KVC_ERR_INVALID_ARGUMENT);
}

}  // namespace
