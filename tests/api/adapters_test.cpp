// adapters_test.cpp: C API section "Adapters": registry, find, config.json, GGUF, info, errors.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "api/api_helpers.h"

namespace {

using kvc_api_test::contains;
using kvc_api_test::Context;

kvc_adapter_info info_of(const kvc_adapter* adapter) {
  kvc_adapter_info info;
  std::memset(&info, 0x5A, sizeof info);
  info.struct_size = sizeof info;
  EXPECT_EQ(kvc_adapter_get_info(adapter, &info), KVC_OK);
  return info;
}

const kvc_adapter* find(const char* name) {
  const kvc_adapter* a = nullptr;
  EXPECT_EQ(kvc_adapter_find(name, &a), KVC_OK) << name;
  return a;
}

std::string stories_gguf() { return std::string(KVC_SHARED_DIR) + "/data/stories260K.gguf"; }

TEST(Adapters, RegistryListsEveryAdapterWithDistinctNames) {
  const uint32_t n = kvc_adapter_count();
  EXPECT_GE(n, 21u);
  std::vector<std::string> names;
  for (uint32_t i = 0; i < n; ++i) {
    const kvc_adapter* a = nullptr;
    ASSERT_EQ(kvc_adapter_get(i, &a), KVC_OK);
    ASSERT_NE(a, nullptr);
    const kvc_adapter_info info = info_of(a);
    EXPECT_EQ(info.is_builtin, 1);
    EXPECT_GT(std::strlen(info.name), 0u);
    EXPECT_LT(std::strlen(info.name), sizeof info.name);
    EXPECT_EQ(find(info.name), a) << info.name;
    for (const std::string& seen : names) EXPECT_NE(seen, info.name);
    names.emplace_back(info.name);
  }
  const kvc_adapter* a = reinterpret_cast<const kvc_adapter*>(&n);
  EXPECT_EQ(kvc_adapter_get(n, &a), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(a, nullptr);
  EXPECT_EQ(kvc_adapter_get(0, nullptr), KVC_ERR_INVALID_ARGUMENT);
}

TEST(Adapters, SeedModelGpt4HasThresholdAndNoShape) {
  const kvc_adapter_info info = info_of(find("GPT-4"));
  EXPECT_STREQ(info.name, "gpt-4");
  EXPECT_STREQ(info.family, "gpt");
  EXPECT_EQ(info.attention_type, KVC_ATTENTION_CAUSAL);
  EXPECT_FLOAT_EQ(info.attention_threshold, 0.92f);
  EXPECT_EQ(info.num_layers, 0);
  EXPECT_EQ(info.num_kv_heads, 0);
  EXPECT_EQ(info.head_dim, 0);
  EXPECT_EQ(info.may_compress_keys, 1);
  EXPECT_TRUE(contains(info.source, "Awareness SDK model table"));
}

TEST(Adapters, MistralSlidesAndDeepSeekCachesALatent) {
  const kvc_adapter_info mistral = info_of(find("mistral-7b"));
  EXPECT_EQ(mistral.attention_type, KVC_ATTENTION_SLIDING_WINDOW);
  EXPECT_EQ(mistral.window_tokens, 4096);
  EXPECT_FLOAT_EQ(mistral.attention_threshold, 0.87f);
  EXPECT_EQ(mistral.num_kv_heads, 8);
  const kvc_adapter_info v3 = info_of(find("deepseek-v3"));
  EXPECT_EQ(v3.attention_type, KVC_ATTENTION_LATENT);
  EXPECT_EQ(v3.num_layers, 61);
  EXPECT_EQ(v3.latent_dim, 512);
  EXPECT_EQ(v3.rope_key_dim, 64);
  EXPECT_EQ(v3.num_kv_heads, 1);
  EXPECT_EQ(v3.head_dim, 576);
  const kvc_adapter_info llama = info_of(find("llama-3-8b"));
  EXPECT_FLOAT_EQ(llama.rope_theta, 500000.0f);
  EXPECT_EQ(llama.num_query_heads, 32);
  EXPECT_EQ(llama.num_kv_heads, 8);
}

TEST(Adapters, UnknownNamesAndNullArgumentsAreInvalid) {
  const kvc_adapter* a = find("gpt-4");
  EXPECT_EQ(kvc_adapter_find("gpt-5", &a), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(a, nullptr);
  EXPECT_EQ(kvc_adapter_find(nullptr, &a), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_adapter_find("gpt-4", nullptr), KVC_ERR_INVALID_ARGUMENT);
  kvc_adapter_info info{};
  info.struct_size = sizeof info;
  EXPECT_EQ(kvc_adapter_get_info(nullptr, &info), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(kvc_adapter_get_info(find("gpt-4"), nullptr), KVC_ERR_INVALID_ARGUMENT);
}

TEST(Adapters, InfoIsWrittenNoFurtherThanTheCallersStructSize) {
  kvc_adapter_info info;
  std::memset(&info, 0x5A, sizeof info);
  info.struct_size = offsetof(kvc_adapter_info, num_layers);
  ASSERT_EQ(kvc_adapter_get_info(find("mistral-7b"), &info), KVC_OK);
  EXPECT_EQ(info.struct_size, offsetof(kvc_adapter_info, num_layers));
  EXPECT_EQ(info.window_tokens, 4096);
  EXPECT_EQ(static_cast<uint32_t>(info.num_layers), 0x5A5A5A5Au);  // beyond: untouched
  info.struct_size = sizeof info + 4;
  EXPECT_EQ(kvc_adapter_get_info(find("mistral-7b"), &info), KVC_ERR_UNSUPPORTED_VERSION);
  info.struct_size = 4;
  EXPECT_EQ(kvc_adapter_get_info(find("mistral-7b"), &info), KVC_ERR_INVALID_ARGUMENT);
}

TEST(Adapters, FromHfConfigIsOwnedAndFreed) {
  const Context ctx;
  const std::string config = R"({"_name_or_path": "Qwen/Qwen2.5-7B", "model_type": "qwen2",
      "hidden_size": 3584, "num_attention_heads": 28, "num_hidden_layers": 28,
      "num_key_value_heads": 4, "rope_theta": 1000000.0, "max_position_embeddings": 131072,
      "sliding_window": 131072, "use_sliding_window": false})";
  kvc_adapter* a = nullptr;
  ASSERT_EQ(kvc_adapter_from_hf_config(ctx, config.data(), config.size(), &a), KVC_OK)
      << ctx.error();
  const kvc_adapter_info info = info_of(a);
  EXPECT_STREQ(info.name, "Qwen/Qwen2.5-7B");
  EXPECT_STREQ(info.family, "qwen");
  EXPECT_EQ(info.is_builtin, 0);
  EXPECT_EQ(info.attention_type, KVC_ATTENTION_CAUSAL);
  EXPECT_EQ(info.num_layers, 28);
  EXPECT_EQ(info.num_kv_heads, 4);
  EXPECT_EQ(info.head_dim, 128);
  EXPECT_EQ(info.context_tokens, 131072);
  EXPECT_EQ(ctx.error(), "");
  kvc_adapter_free(a);
  kvc_adapter_free(nullptr);
}

TEST(Adapters, FromHfConfigErrorsNameTheField) {
  const Context ctx;
  kvc_adapter* a = reinterpret_cast<kvc_adapter*>(1);
  const std::string missing = R"({"model_type": "llama", "hidden_size": 64})";
  EXPECT_EQ(kvc_adapter_from_hf_config(ctx, missing.data(), missing.size(), &a),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_EQ(a, nullptr);
  EXPECT_TRUE(contains(ctx.error(), "num_hidden_layers is missing"));
  const std::string text = "not json";
  EXPECT_EQ(kvc_adapter_from_hf_config(ctx, text.data(), text.size(), &a), KVC_ERR_CORRUPT_DATA);
  EXPECT_TRUE(contains(ctx.error(), "not valid JSON"));
  EXPECT_EQ(kvc_adapter_from_hf_config(ctx, nullptr, 4, &a), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "json_text is NULL"));
  EXPECT_EQ(kvc_adapter_from_hf_config(ctx, text.data(), text.size(), nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "out_adapter is NULL"));
  EXPECT_EQ(kvc_adapter_from_hf_config(nullptr, text.data(), text.size(), &a),
            KVC_ERR_INVALID_ARGUMENT);
}

TEST(Adapters, FromGgufReadsTheStories260KFile) {
  if (!kvc_test::file_exists(stories_gguf())) GTEST_SKIP() << stories_gguf() << " not found";
  const Context ctx;
  kvc_adapter* a = nullptr;
  ASSERT_EQ(kvc_adapter_from_gguf(ctx, stories_gguf().c_str(), &a), KVC_OK) << ctx.error();
  const kvc_adapter_info info = info_of(a);
  EXPECT_STREQ(info.family, "llama");
  EXPECT_EQ(info.num_layers, 5);
  EXPECT_EQ(info.num_query_heads, 8);
  EXPECT_EQ(info.num_kv_heads, 4);
  EXPECT_EQ(info.head_dim, 8);
  EXPECT_EQ(info.is_builtin, 0);
  kvc_adapter_free(a);
}

TEST(Adapters, FromGgufErrorsForMissingCorruptAndForeignFiles) {
  const Context ctx;
  kvc_adapter* a = nullptr;
  const std::string dir = ::testing::TempDir();
  EXPECT_EQ(kvc_adapter_from_gguf(ctx, (dir + "/no_such.gguf").c_str(), &a), KVC_ERR_IO);
  EXPECT_TRUE(contains(ctx.error(), "no_such.gguf"));
  const std::string foreign = dir + "/kvc_foreign.gguf";
  {
    FILE* f = std::fopen(foreign.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fputs("safetensors are not gguf", f);
    std::fclose(f);
  }
  EXPECT_EQ(kvc_adapter_from_gguf(ctx, foreign.c_str(), &a), KVC_ERR_CORRUPT_DATA);
  EXPECT_TRUE(contains(ctx.error(), "does not start with 'GGUF'"));
  {
    FILE* f = std::fopen(foreign.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    const unsigned char v1[] = {'G', 'G', 'U', 'F', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    std::fwrite(v1, 1, sizeof v1, f);
    std::fclose(f);
  }
  EXPECT_EQ(kvc_adapter_from_gguf(ctx, foreign.c_str(), &a), KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), "version 1"));
  std::remove(foreign.c_str());
  EXPECT_EQ(kvc_adapter_from_gguf(ctx, nullptr, &a), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "path is NULL"));
  EXPECT_EQ(a, nullptr);
}

TEST(Adapters, AttentionTypeNames) {
  EXPECT_STREQ(kvc_attention_type_name(KVC_ATTENTION_CAUSAL), "causal");
  EXPECT_STREQ(kvc_attention_type_name(KVC_ATTENTION_BIDIRECTIONAL), "bidirectional");
  EXPECT_STREQ(kvc_attention_type_name(KVC_ATTENTION_SLIDING_WINDOW), "sliding-window");
  EXPECT_STREQ(kvc_attention_type_name(KVC_ATTENTION_SPARSE), "sparse");
  EXPECT_STREQ(kvc_attention_type_name(KVC_ATTENTION_LATENT), "latent");
  EXPECT_STREQ(kvc_attention_type_name(-1), "unknown");
  EXPECT_STREQ(kvc_attention_type_name(5), "unknown");
}

TEST(Adapters, RegistryIsSharedAcrossThreads) {
  std::vector<std::thread> threads;
  std::vector<int> failures(8, 0);
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t, &failures] {
      for (int i = 0; i < 200; ++i) {
        const kvc_adapter* a = nullptr;
        kvc_adapter_info info{};
        info.struct_size = sizeof info;
        if (kvc_adapter_find("llama-2-70b", &a) != KVC_OK ||
            kvc_adapter_get_info(a, &info) != KVC_OK || info.num_layers != 80) {
          ++failures[t];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (const int f : failures) EXPECT_EQ(f, 0);
}

}  // namespace
