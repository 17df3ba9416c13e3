// registry_test.cpp: the built-in adapters against the Awareness SDK model table and the models'
// published configs.
#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>

#include "adapters/adapter.h"
#include "core/error.h"

namespace kvc::adapters {
namespace {

const Adapter& get(const char* name) {
  const Adapter* a = find(name);
  if (a == nullptr) throw std::runtime_error(std::string("no adapter ") + name);
  return *a;
}

TEST(Registry, HoldsEverySeedModelWithItsThresholdAndAttention) {
  struct SeedRow {
    const char* name;
    AttentionType attention;
    int32_t window;
    float threshold;
  };
  const SeedRow seed[] = {
      {"gpt-3.5", AttentionType::kCausal, 0, 0.90f},
      {"gpt-4", AttentionType::kCausal, 0, 0.92f},
      {"gpt-4o", AttentionType::kCausal, 0, 0.93f},
      {"claude-3-opus", AttentionType::kBidirectional, 0, 0.91f},
      {"claude-3-sonnet", AttentionType::kBidirectional, 0, 0.90f},
      {"claude-3.5-sonnet", AttentionType::kBidirectional, 0, 0.92f},
      {"llama-2-7b", AttentionType::kCausal, 0, 0.88f},
      {"llama-2-70b", AttentionType::kCausal, 0, 0.90f},
      {"llama-3-8b", AttentionType::kCausal, 0, 0.89f},
      {"llama-3.1-70b", AttentionType::kCausal, 0, 0.91f},
      {"mistral-7b", AttentionType::kSlidingWindow, 4096, 0.87f},
      {"mixtral-8x7b", AttentionType::kSlidingWindow, 4096, 0.88f},
      {"qwen-7b", AttentionType::kCausal, 0, 0.89f},
      {"qwen-2.5-72b", AttentionType::kCausal, 0, 0.91f},
      // Seed 000 says sparse (learned); their attention is MLA, which kvc models as latent.
      {"deepseek-v2", AttentionType::kLatent, 0, 0.85f},
      {"deepseek-v3", AttentionType::kLatent, 0, 0.86f},
  };
  for (const SeedRow& row : seed) {
    SCOPED_TRACE(row.name);
    const Adapter* a = find(row.name);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->name, row.name);
    EXPECT_EQ(a->attention, row.attention);
    EXPECT_EQ(a->window_tokens, row.window);
    EXPECT_FLOAT_EQ(a->policy.attention_threshold, row.threshold);
    EXPECT_NE(a->source.find("Awareness SDK model table"), std::string::npos);
  }
}

TEST(Registry, ClosedModelsCarryPolicyOnly) {
  for (const char* name : {"gpt-3.5", "gpt-4", "gpt-4o", "claude-3-opus", "claude-3.5-sonnet"}) {
    const Adapter& a = get(name);
    EXPECT_FALSE(a.has_shape()) << name;
    EXPECT_EQ(a.num_layers, 0) << name;
    EXPECT_EQ(a.num_kv_heads, 0) << name;
    EXPECT_EQ(a.head_dim, 0) << name;
    EXPECT_EQ(a.cached_elements_per_token_layer(), 0) << name;
  }
}

TEST(Registry, OpenModelsHaveTheirPublishedShapes) {
  struct Shape {
    const char* name;
    int32_t layers, query_heads, kv_heads, head_dim;
    double rope_theta;
  };
  const Shape shapes[] = {
      {"tinyllama-1.1b", 22, 32, 4, 64, 10000.0},  {"llama-2-7b", 32, 32, 32, 128, 10000.0},
      {"llama-2-70b", 80, 64, 8, 128, 10000.0},    {"llama-3-8b", 32, 32, 8, 128, 500000.0},
      {"llama-3.1-70b", 80, 64, 8, 128, 500000.0}, {"mistral-7b", 32, 32, 8, 128, 10000.0},
      {"mixtral-8x7b", 32, 32, 8, 128, 1e6},       {"qwen-7b", 32, 32, 32, 128, 10000.0},
      {"qwen-2.5-0.5b", 24, 14, 2, 64, 1e6},       {"qwen-2.5-7b", 28, 28, 4, 128, 1e6},
      {"qwen-2.5-72b", 80, 64, 8, 128, 1e6},       {"smollm2-135m", 30, 9, 3, 64, 100000.0},
      {"stories260k", 5, 8, 4, 8, 10000.0},
  };
  for (const Shape& s : shapes) {
    SCOPED_TRACE(s.name);
    const Adapter& a = get(s.name);
    EXPECT_TRUE(a.has_shape());
    EXPECT_EQ(a.num_layers, s.layers);
    EXPECT_EQ(a.num_query_heads, s.query_heads);
    EXPECT_EQ(a.num_kv_heads, s.kv_heads);
    EXPECT_EQ(a.head_dim, s.head_dim);
    EXPECT_DOUBLE_EQ(a.rope_theta, s.rope_theta);
    EXPECT_EQ(a.cached_elements_per_token_layer(), int64_t{2} * s.kv_heads * s.head_dim);
  }
}

TEST(Registry, DeepSeekCachesOneLatentPlusARopeKeyPerTokenAndLayer) {
  EXPECT_EQ(get("deepseek-v2").num_layers, 60);
  EXPECT_EQ(get("deepseek-v3").num_layers, 61);
  for (const char* name : {"deepseek-v2", "deepseek-v3"}) {
    const Adapter& a = get(name);
    EXPECT_EQ(a.attention, AttentionType::kLatent);
    EXPECT_EQ(a.latent_dim, 512);
    EXPECT_EQ(a.rope_key_dim, 64);
    EXPECT_EQ(a.num_query_heads, 128);
    EXPECT_EQ(a.num_kv_heads, 1);
    EXPECT_EQ(a.head_dim, 576);
    EXPECT_EQ(a.cached_elements_per_token_layer(), 576);
    EXPECT_NE(a.cache_description().find("latent of 512"), std::string::npos);
  }
}

TEST(Registry, HoldsAtLeastTheSeedAndOpenModelsWithUniqueValidEntries) {
  EXPECT_GE(registry().size(), 21u);
  std::set<std::string> names, loose_names;
  for (const Adapter& a : registry()) {
    SCOPED_TRACE(a.name);
    EXPECT_NO_THROW(validate(a));
    EXPECT_FALSE(a.source.empty());
    std::string lower, loose;
    for (const char c : a.name) {
      lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (c != '-' && c != '_' && c != '.' && c != ' ') loose += lower.back();
    }
    EXPECT_EQ(lower, a.name) << "registry names are lower case";
    EXPECT_TRUE(names.insert(lower).second);
    EXPECT_TRUE(loose_names.insert(loose).second) << "names collide without separators";
    EXPECT_EQ(find(a.name), &a);
  }
}

TEST(Registry, FindIgnoresCaseThenSeparatorsAndRejectsUnknownNames) {
  EXPECT_EQ(find("GPT-4"), find("gpt-4"));
  EXPECT_EQ(find("Qwen2.5-72B"), find("qwen-2.5-72b"));
  EXPECT_EQ(find("SmolLM2-135M"), find("smollm2-135m"));
  EXPECT_EQ(find("Llama-3.1-70B"), find("llama-3.1-70b"));
  EXPECT_NE(find("gpt-4"), find("gpt-4o"));
  EXPECT_EQ(find("gpt-5"), nullptr);
  EXPECT_EQ(find(""), nullptr);
  EXPECT_EQ(find("--"), nullptr);
}

TEST(Validate, NamesTheInconsistentField) {
  Adapter a = get("llama-3-8b");
  a.num_kv_heads = 7;
  try {
    validate(a);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), KVC_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("num_kv_heads 7"), std::string::npos) << e.what();
  }
  a = get("gpt-4");
  a.policy.attention_threshold = 1.5f;
  EXPECT_THROW(validate(a), Error);
  a = get("gpt-4");
  a.window_tokens = 128;
  EXPECT_THROW(validate(a), Error);
  a = get("gpt-4");
  a.policy.group_size = 48;
  EXPECT_THROW(validate(a), Error);
  a = get("gpt-4");
  a.policy.may_compress_keys = false;
  EXPECT_THROW(validate(a), Error);
  a.policy.key_bits = 16;
  EXPECT_NO_THROW(validate(a));
}

TEST(Validate, LatentDimsWhoseSumOverflowsInt32AreNamedUnwrapped) {
  Adapter a = get("deepseek-v3");
  a.latent_dim = 2147483647;
  a.rope_key_dim = 1;
  try {
    validate(a);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), KVC_ERR_INVALID_ARGUMENT);
    EXPECT_NE(std::string(e.what()).find("rope_key_dim = 2147483648 elements"), std::string::npos)
        << e.what();
  }
}

TEST(AttentionType, NamesEveryType) {
  EXPECT_STREQ(attention_type_name(AttentionType::kCausal), "causal");
  EXPECT_STREQ(attention_type_name(AttentionType::kBidirectional), "bidirectional");
  EXPECT_STREQ(attention_type_name(AttentionType::kSlidingWindow), "sliding-window");
  EXPECT_STREQ(attention_type_name(AttentionType::kSparse), "sparse");
  EXPECT_STREQ(attention_type_name(AttentionType::kLatent), "latent");
  EXPECT_STREQ(attention_type_name(static_cast<AttentionType>(9)), "unknown");
}

}  // namespace
}  // namespace kvc::adapters
