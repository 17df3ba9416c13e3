// hf_config.cpp: an adapter from a Hugging Face config.json (llama, mistral, qwen2, deepseek...).
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/adapter.h"
#include "core/error.h"
#include "core/json_document.h"

namespace kvc::adapters {
namespace {

constexpr int64_t kMaxCount = std::numeric_limits<int32_t>::max();

std::string shown(const JsonValue& value) { return value.brief(37); }

// The field's value; nullopt when it is missing or null.
std::optional<JsonValue> field_of(const JsonValue& config, const char* field) {
  std::optional<JsonValue> value = config.find(field);
  if (value && value->is_null()) return std::nullopt;
  return value;
}

// A positive integer that fits int32.
int32_t positive_int(const JsonValue& value, const char* field) {
  require(value.is_integer(),
          std::string("config.json: ") + field + " " + shown(value) + " is not an integer");
  require(value.is_unsigned() && value.unsigned_value() > 0,
          std::string("config.json: ") + field + " " + shown(value) + " is not positive");
  const uint64_t n = value.unsigned_value();
  require(n <= static_cast<uint64_t>(kMaxCount),
          std::string("config.json: ") + field + " " + shown(value) + " is out of range");
  return static_cast<int32_t>(n);
}

int32_t required_int(const JsonValue& config, const char* field) {
  const std::optional<JsonValue> value = field_of(config, field);
  require(value.has_value(), std::string("config.json: ") + field + " is missing");
  return positive_int(*value, field);
}

// The first of the fields that is present (e.g. Qwen 1's kv_channels for head_dim), or 0.
int32_t optional_int(const JsonValue& config, std::initializer_list<const char*> fields) {
  for (const char* field : fields) {
    if (const std::optional<JsonValue> value = field_of(config, field)) {
      return positive_int(*value, field);
    }
  }
  return 0;
}

double positive_number(const JsonValue& value, const char* field) {
  require(value.is_number(),
          std::string("config.json: ") + field + " " + shown(value) + " is not a number");
  const double x = value.number();
  require(std::isfinite(x) && x > 0.0,
          std::string("config.json: ") + field + " " + shown(value) + " is not positive");
  return x;
}

std::string family_of(const std::string& model_type) {
  if (model_type.rfind("llama", 0) == 0) return "llama";
  if (model_type.rfind("mistral", 0) == 0 || model_type.rfind("mixtral", 0) == 0) return "mistral";
  if (model_type.rfind("qwen", 0) == 0) return "qwen";
  if (model_type.rfind("deepseek", 0) == 0) return "deepseek";
  return model_type;
}

}  // namespace

Adapter from_hf_config(std::string_view json_text) {
  JsonDocument document;
  std::string error;
  const bool is_parsed = document.parse(json_text, DuplicateKeys::kKeepLast, &error);
  require_intact(is_parsed, "config.json " + error);
  const JsonValue config = document.root();
  require_intact(config.is_object(), "config.json: not a JSON object");

  const std::optional<JsonValue> model_type_value = field_of(config, "model_type");
  require(model_type_value.has_value(), "config.json: model_type is missing");
  require(model_type_value->is_string(),
          "config.json: model_type " + shown(*model_type_value) + " is not a string");
  const std::string model_type(model_type_value->string());
  require(!model_type.empty(), "config.json: model_type is empty");

  Adapter a;
  a.name = model_type;
  const std::optional<JsonValue> name = field_of(config, "_name_or_path");
  if (name && name->is_string() && !name->string().empty()) a.name = name->string();
  if (const Adapter* known = find(a.name)) a.policy = known->policy;
  a.family = family_of(model_type);
  a.source = "config.json (model_type " + model_type + ")";

  a.num_layers = required_int(config, "num_hidden_layers");
  a.num_query_heads = required_int(config, "num_attention_heads");
  a.num_kv_heads = optional_int(config, {"num_key_value_heads"});
  if (a.num_kv_heads == 0) a.num_kv_heads = a.num_query_heads;
  a.head_dim = optional_int(config, {"head_dim", "kv_channels"});
  if (a.head_dim == 0) {
    const std::optional<JsonValue> hidden_size = field_of(config, "hidden_size");
    require(hidden_size.has_value(), "config.json: head_dim and hidden_size are both missing");
    const int32_t hidden = positive_int(*hidden_size, "hidden_size");
    require(hidden % a.num_query_heads == 0, "config.json: hidden_size " + std::to_string(hidden) +
                                                 " is not a multiple of num_attention_heads " +
                                                 std::to_string(a.num_query_heads));
    a.head_dim = hidden / a.num_query_heads;
  }
  a.rope_theta = 10000.0;
  for (const char* field : {"rope_theta", "rotary_emb_base"}) {
    if (const std::optional<JsonValue> value = field_of(config, field)) {
      a.rope_theta = positive_number(*value, field);
      break;
    }
  }
  a.context_tokens = optional_int(config, {"max_position_embeddings", "seq_length"});

  const std::optional<JsonValue> kv_lora_rank = field_of(config, "kv_lora_rank");
  const std::optional<JsonValue> sliding_window = field_of(config, "sliding_window");
  if (kv_lora_rank) {  // multi-head latent attention (DeepSeek-V2/V3)
    a.attention = AttentionType::kLatent;
    a.latent_dim = positive_int(*kv_lora_rank, "kv_lora_rank");
    a.rope_key_dim = required_int(config, "qk_rope_head_dim");
    const int64_t cached = int64_t{a.latent_dim} + a.rope_key_dim;
    require(cached <= kMaxCount, "config.json: kv_lora_rank " + std::to_string(a.latent_dim) +
                                     " + qk_rope_head_dim " + std::to_string(a.rope_key_dim) +
                                     " is out of range");
    a.num_kv_heads = 1;
    a.head_dim = static_cast<int32_t>(cached);
  } else if (sliding_window) {
    bool is_used = true;  // Qwen2: the window is off unless enabled
    if (const std::optional<JsonValue> use = config.find("use_sliding_window")) {
      require(use->is_boolean(),
              "config.json: use_sliding_window " + shown(*use) + " is not true or false");
      is_used = use->boolean();
    }
    if (is_used) {
      a.attention = AttentionType::kSlidingWindow;
      a.window_tokens = positive_int(*sliding_window, "sliding_window");
    }
  }
  validate(a);
  return a;
}

}  // namespace kvc::adapters
