// hf_config_test.cpp: adapters from Hugging Face config.json files of real models, and errors.
#include <gtest/gtest.h>

#include <string>

#include "adapters/adapter.h"
#include "core/error.h"

namespace kvc::adapters {
namespace {

// The fields of the models' published config.json files that the reader uses (and some others).
constexpr const char* kLlama3_8B = R"({
  "_name_or_path": "meta-llama/Meta-Llama-3-8B", "architectures": ["LlamaForCausalLM"],
  "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336,
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "max_position_embeddings": 8192, "rope_theta": 500000.0, "rms_norm_eps": 1e-05,
  "torch_dtype": "bfloat16", "vocab_size": 128256})";

constexpr const char* kMistral7B = R"({
  "architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096,
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
  "max_position_embeddings": 32768, "rope_theta": 10000.0, "sliding_window": 4096})";

constexpr const char* kQwen25_0_5B = R"({
  "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "hidden_size": 896,
  "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "max_position_embeddings": 32768, "max_window_layers": 24, "rope_theta": 1000000.0,
  "sliding_window": 32768, "use_sliding_window": false, "tie_word_embeddings": true})";

constexpr const char* kTinyLlama = R"({
  "_name_or_path": "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T",
  "model_type": "llama", "hidden_size": 2048, "num_attention_heads": 32,
  "num_hidden_layers": 22, "num_key_value_heads": 4, "max_position_embeddings": 2048,
  "rope_scaling": null, "rope_theta": 10000.0})";

constexpr const char* kSmolLM2 = R"({
  "_name_or_path": "HuggingFaceTB/SmolLM2-135M", "model_type": "llama", "hidden_size": 576,
  "head_dim": 64, "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3,
  "max_position_embeddings": 8192, "rope_theta": 100000})";

constexpr const char* kDeepSeekV3 = R"({
  "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "hidden_size": 7168,
  "num_attention_heads": 128, "num_hidden_layers": 61, "num_key_value_heads": 128,
  "kv_lora_rank": 512, "q_lora_rank": 1536, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "v_head_dim": 128, "max_position_embeddings": 163840, "rope_theta": 10000})";

constexpr const char* kQwen7B = R"({
  "model_type": "qwen", "hidden_size": 4096, "kv_channels": 128, "num_attention_heads": 32,
  "num_hidden_layers": 32, "rotary_emb_base": 10000, "seq_length": 8192})";

// The error message of from_hf_config(text), checking its status.
std::string error_of(const std::string& text, kvc_status expected = KVC_ERR_INVALID_ARGUMENT) {
  try {
    from_hf_config(text);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), expected) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error for " << text;
  return "";
}

TEST(HfConfig, Llama3GroupedQueryAttentionAndItsRopeBase) {
  const Adapter a = from_hf_config(kLlama3_8B);
  EXPECT_EQ(a.name, "meta-llama/Meta-Llama-3-8B");
  EXPECT_EQ(a.family, "llama");
  EXPECT_EQ(a.attention, AttentionType::kCausal);
  EXPECT_EQ(a.num_layers, 32);
  EXPECT_EQ(a.num_query_heads, 32);
  EXPECT_EQ(a.num_kv_heads, 8);
  EXPECT_EQ(a.head_dim, 128);
  EXPECT_DOUBLE_EQ(a.rope_theta, 500000.0);
  EXPECT_EQ(a.context_tokens, 8192);
}

TEST(HfConfig, MatchesTheRegistryForTheSameModels) {
  struct Pair {
    const char* config;
    const char* name;
  };
  for (const Pair& p : {Pair{kLlama3_8B, "llama-3-8b"}, Pair{kMistral7B, "mistral-7b"},
                        Pair{kQwen25_0_5B, "qwen-2.5-0.5b"}, Pair{kTinyLlama, "tinyllama-1.1b"},
                        Pair{kSmolLM2, "smollm2-135m"}, Pair{kDeepSeekV3, "deepseek-v3"},
                        Pair{kQwen7B, "qwen-7b"}}) {
    SCOPED_TRACE(p.name);
    const Adapter a = from_hf_config(p.config);
    const Adapter& r = *find(p.name);
    EXPECT_EQ(a.attention, r.attention);
    EXPECT_EQ(a.window_tokens, r.window_tokens);
    EXPECT_EQ(a.num_layers, r.num_layers);
    EXPECT_EQ(a.num_query_heads, r.num_query_heads);
    EXPECT_EQ(a.num_kv_heads, r.num_kv_heads);
    EXPECT_EQ(a.head_dim, r.head_dim);
    EXPECT_DOUBLE_EQ(a.rope_theta, r.rope_theta);
    EXPECT_EQ(a.latent_dim, r.latent_dim);
    EXPECT_EQ(a.rope_key_dim, r.rope_key_dim);
  }
}

TEST(HfConfig, SlidingWindowOnlyWhereUsed) {
  const Adapter mistral = from_hf_config(kMistral7B);
  EXPECT_EQ(mistral.attention, AttentionType::kSlidingWindow);
  EXPECT_EQ(mistral.window_tokens, 4096);
  const Adapter qwen = from_hf_config(kQwen25_0_5B);  // use_sliding_window false
  EXPECT_EQ(qwen.attention, AttentionType::kCausal);
  EXPECT_EQ(qwen.window_tokens, 0);
  const Adapter mixtral = from_hf_config(
      R"({"model_type": "mixtral", "hidden_size": 4096, "num_attention_heads": 32,
          "num_hidden_layers": 32, "num_key_value_heads": 8, "sliding_window": null})");
  EXPECT_EQ(mixtral.attention, AttentionType::kCausal);
  EXPECT_EQ(mixtral.family, "mistral");
}

TEST(HfConfig, DefaultsKvHeadsHeadDimAndRopeAndTakesTheRegistryPolicyByName) {
  const Adapter a = from_hf_config(
      R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
          "num_hidden_layers": 32})");
  EXPECT_EQ(a.name, "llama");
  EXPECT_EQ(a.num_kv_heads, 32);
  EXPECT_EQ(a.head_dim, 128);
  EXPECT_DOUBLE_EQ(a.rope_theta, 10000.0);
  EXPECT_EQ(a.context_tokens, 0);
  EXPECT_FLOAT_EQ(a.policy.attention_threshold, Policy{}.attention_threshold);
  const Adapter named = from_hf_config(
      R"({"_name_or_path": "Llama-2-7B", "model_type": "llama", "hidden_size": 4096,
          "num_attention_heads": 32, "num_hidden_layers": 32})");
  EXPECT_FLOAT_EQ(named.policy.attention_threshold, 0.88f);
}

TEST(HfConfig, LatentAttentionCachesTheLatentAndTheRopeKey) {
  const Adapter a = from_hf_config(kDeepSeekV3);
  EXPECT_EQ(a.family, "deepseek");
  EXPECT_EQ(a.attention, AttentionType::kLatent);
  EXPECT_EQ(a.num_layers, 61);
  EXPECT_EQ(a.num_kv_heads, 1);
  EXPECT_EQ(a.head_dim, 576);
  EXPECT_EQ(a.cached_elements_per_token_layer(), 576);
}

// Each fits int32, their sum (the cached vector) does not: out of range, not a wrapped head_dim
// (signed overflow; found by the model_config fuzz target,
// tests/fuzz/corpus/model_config/crash-hf-latent-dims-sum-overflows-int32.json).
TEST(HfConfig, LatentDimsWhoseSumOverflowsInt32AreOutOfRange) {
  const std::string text = R"({"model_type": "deepseek_v3", "num_hidden_layers": 2,
      "num_attention_heads": 1, "hidden_size": 4, "kv_lora_rank": 2147483647,
      "qk_rope_head_dim": 2})";
  EXPECT_NE(error_of(text).find("kv_lora_rank 2147483647 + qk_rope_head_dim 2 is out of range"),
            std::string::npos)
      << error_of(text);
  // The largest sum that fits is taken.
  const Adapter a = from_hf_config(R"({"model_type": "deepseek_v3", "num_hidden_layers": 2,
      "num_attention_heads": 1, "hidden_size": 4, "kv_lora_rank": 2147483645,
      "qk_rope_head_dim": 2})");
  EXPECT_EQ(a.head_dim, 2147483647);
}

TEST(HfConfig, TextThatIsNotAJsonObjectIsCorrupt) {
  EXPECT_NE(error_of("", KVC_ERR_CORRUPT_DATA).find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("{\"model_type\": ", KVC_ERR_CORRUPT_DATA).find("JSON"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]", KVC_ERR_CORRUPT_DATA).find("not a JSON object"), std::string::npos);
  EXPECT_NE(error_of(std::string("{\"a\"\0:1}", 9), KVC_ERR_CORRUPT_DATA).find("JSON"),
            std::string::npos);
}

TEST(HfConfig, MissingOrInvalidFieldsAreNamed) {
  const std::string base =
      R"("hidden_size": 4096, "num_attention_heads": 32, "num_hidden_layers": 32)";
  EXPECT_NE(error_of("{" + base + "}").find("model_type is missing"), std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": 3, )" + base + "}").find("model_type 3 is not a string"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32})")
                .find("num_hidden_layers is missing"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "llama", "num_hidden_layers": 2, "num_attention_heads": 4})")
                .find("head_dim and hidden_size are both missing"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
                         "num_hidden_layers": "32"})")
                .find(R"(num_hidden_layers "32" is not an integer)"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
                         "num_hidden_layers": -1})")
                .find("num_hidden_layers -1 is not positive"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
                         "num_hidden_layers": 4294967296})")
                .find("out of range"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "llama", "hidden_size": 4000, "num_attention_heads": 48,
                         "num_hidden_layers": 2})")
                .find("hidden_size 4000 is not a multiple of num_attention_heads 48"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "llama", )" + base + R"(, "num_key_value_heads": 5})")
                .find("num_kv_heads 5 does not divide num_query_heads 32"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "llama", )" + base + R"(, "rope_theta": "big"})")
                .find("rope_theta \"big\" is not a number"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "mistral", )" + base + R"(, "sliding_window": 0})")
                .find("sliding_window 0 is not positive"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "qwen2", )" + base +
                     R"(, "sliding_window": 4096, "use_sliding_window": "yes"})")
                .find("use_sliding_window"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"model_type": "deepseek_v2", )" + base + R"(, "kv_lora_rank": 512})")
                .find("qk_rope_head_dim is missing"),
            std::string::npos);
}

}  // namespace
}  // namespace kvc::adapters
