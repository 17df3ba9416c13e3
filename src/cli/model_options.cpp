// model_options.cpp: the options `kvc estimate` and `kvc bench` share: a model adapter or explicit
// dimensions for the cache shape, and compression and token selection parameters over its policy.
#include <cmath>

#include "cli.h"

namespace kvc::cli {
namespace {

int32_t selection_from_name(const std::string& name) {
  if (name == "attention") return KVC_SELECT_ATTENTION;
  if (name == "key-norm") return KVC_SELECT_KEY_NORM;
  if (name == "recency") return KVC_SELECT_RECENCY;
  return KVC_SELECT_NONE;
}

kvc_dtype dtype_from_name(const std::string& name) {
  if (name == "f32") return KVC_DTYPE_F32;
  if (name == "bf16") return KVC_DTYPE_BF16;
  return KVC_DTYPE_F16;
}

bool given(const CLI::Option* option) { return option != nullptr && option->count() > 0; }

}  // namespace

std::string selection_name(int32_t selection) {
  switch (selection) {
    case KVC_SELECT_NONE:
      return "none";
    case KVC_SELECT_ATTENTION:
      return "attention";
    case KVC_SELECT_KEY_NORM:
      return "key-norm";
    case KVC_SELECT_RECENCY:
      return "recency";
    default:
      return format("selection %d", selection);
  }
}

void add_model_options(CLI::App& sub, ModelOptions& o, bool is_shape_optional) {
  const char* group = "Model and shape";
  o.model_option =
      sub.add_option("--model", o.model,
                     "Model adapter name ('kvc models'): its shape and compression policy")
          ->group(group);
  o.layers_option =
      sub.add_option("--layers", o.layers, "Layers (default: the model's, else 1)")->group(group);
  o.heads_option =
      sub.add_option("--heads", o.heads, "KV heads (default: the model's, else 1)")->group(group);
  o.head_dim_option =
      sub.add_option("--head-dim", o.head_dim, "Elements per head and token (default: the model's)")
          ->group(group);
  o.tokens_option = sub.add_option("--tokens", o.tokens, "Tokens in the cache")->group(group);
  if (!is_shape_optional) o.tokens_option->required();
  sub.add_option("--dtype", o.dtype, "Element type of the cache")
      ->check(CLI::IsMember({"f16", "bf16", "f32"}))
      ->capture_default_str()
      ->group(group);

  const char* codec = "Compression (defaults: the model's policy, else the library's)";
  o.bits_option =
      sub.add_option("--bits", o.bits, "Bits of keys and values: 2, 3, 4, 8, or 16 (lossless)")
          ->group(codec);
  o.key_bits_option =
      sub.add_option("--key-bits", o.key_bits, "Bits of keys (overrides --bits)")->group(codec);
  o.value_bits_option =
      sub.add_option("--value-bits", o.value_bits, "Bits of values (overrides --bits)")
          ->group(codec);
  o.group_size_option =
      sub.add_option("--group-size", o.group_size, "Elements per scale: 32, 64 or 128")
          ->group(codec);
  o.recent_option = sub.add_option("--recent-full-precision-tokens,--recent", o.recent,
                                   "Newest tokens kept in full precision")
                        ->group(codec);
  o.zstd_level_option =
      sub.add_option("--zstd-level", o.zstd_level, "Zstandard level -7..22; 0 = none")
          ->group(codec);

  const char* select = "Token selection";
  sub.add_option("--select", o.select, "Which tokens to keep")
      ->check(CLI::IsMember({"none", "attention", "key-norm", "recency"}))
      ->capture_default_str()
      ->group(select);
  o.keep_ratio_option =
      sub.add_option("--keep-ratio", o.keep_ratio, "key-norm, recency: share of tokens kept")
          ->group(select);
  o.threshold_option = sub.add_option("--threshold", o.threshold,
                                      "attention: attention mass to keep (default: the model's)")
                           ->group(select);
  o.min_tokens_option =
      sub.add_option("--min-tokens", o.min_tokens, "Keep at least this many tokens")->group(select);
  o.max_tokens_option =
      sub.add_option("--max-tokens", o.max_tokens, "Keep at most this many (0 = no limit)")
          ->group(select);
  o.sinks_option = sub.add_option("--sinks", o.sinks, "First tokens always kept (attention sinks)")
                       ->group(select);
  o.keep_recent_option = sub.add_option("--recent-always-kept-tokens,--keep-recent", o.keep_recent,
                                        "Newest tokens never evicted")
                             ->group(select);
  o.sliding_window_option =
      sub.add_option("--sliding-window", o.sliding_window,
                     "Drop tokens before the newest N (default: the model's window)")
          ->group(select);
}

ModelSetup resolve_model_options(const ModelOptions& o, const kvc_cache_shape* cache_shape) {
  ModelSetup m;
  kvc_compress_params& p = m.params;
  kvc_compress_params_default(&p, sizeof p);
  kvc_cache_shape_default(&m.shape, sizeof m.shape);
  m.info.struct_size = sizeof m.info;

  if (given(o.model_option)) {
    const kvc_adapter* adapter = nullptr;
    if (kvc_adapter_find(o.model.c_str(), &adapter) != KVC_OK) {
      throw failure(KVC_ERR_INVALID_ARGUMENT,
                    "--model " + o.model + " is not a known model (run 'kvc models')");
    }
    m.adapter = adapter;
    const kvc_status st = kvc_adapter_get_info(adapter, &m.info);
    if (st == KVC_OK) kvc_adapter_compress_params(adapter, &p);
    if (st != KVC_OK) throw failure(st, "--model " + o.model + ": cannot read the adapter");
    m.has_model = true;
  }

  // Shape: the cache file's, else the flags over the model's (closed models have none).
  if (cache_shape != nullptr) {
    m.shape = *cache_shape;
  } else {
    const bool model_has_shape = m.has_model && m.info.num_layers > 0 && m.info.head_dim > 0;
    m.shape.num_layers = given(o.layers_option) ? o.layers
                         : model_has_shape      ? static_cast<uint32_t>(m.info.num_layers)
                                                : 1;
    m.shape.num_kv_heads = given(o.heads_option) ? o.heads
                           : model_has_shape     ? static_cast<uint32_t>(m.info.num_kv_heads)
                                                 : 1;
    if (given(o.head_dim_option)) {
      m.shape.head_dim = o.head_dim;
    } else if (model_has_shape) {
      m.shape.head_dim = static_cast<uint32_t>(m.info.head_dim);
    } else {
      throw failure(KVC_ERR_INVALID_ARGUMENT,
                    m.has_model
                        ? "--head-dim is needed: model " + o.model + " does not publish its shape"
                        : "--head-dim is needed (or --model NAME with a known shape)");
    }
    m.shape.num_tokens = o.tokens;
    m.shape.dtype = dtype_from_name(o.dtype);
  }

  // Compression: flags over the model's policy over the library defaults.
  if (given(o.bits_option)) p.key_bits = p.value_bits = o.bits;
  if (given(o.key_bits_option)) p.key_bits = o.key_bits;
  if (given(o.value_bits_option)) p.value_bits = o.value_bits;
  if (given(o.group_size_option)) p.group_size = o.group_size;
  if (given(o.recent_option)) p.recent_full_precision_tokens = o.recent;
  if (given(o.zstd_level_option)) p.zstd_level = o.zstd_level;
  p.selection = selection_from_name(o.select);
  if (given(o.keep_ratio_option)) p.keep_ratio = o.keep_ratio;
  if (given(o.threshold_option)) p.attention_threshold = o.threshold;
  if (given(o.min_tokens_option)) p.min_tokens = o.min_tokens;
  if (given(o.max_tokens_option)) p.max_tokens = o.max_tokens;
  if (given(o.sinks_option)) p.sink_tokens = o.sinks;
  if (given(o.keep_recent_option)) p.recent_always_kept_tokens = o.keep_recent;
  if (given(o.sliding_window_option)) p.sliding_window = o.sliding_window;
  return m;
}

json params_json(const kvc_compress_params& p) {
  return json{{"key_bits", p.key_bits},
              {"value_bits", p.value_bits},
              {"group_size", p.group_size},
              {"recent_full_precision_tokens", p.recent_full_precision_tokens},
              {"zstd_level", p.zstd_level},
              {"model_name", p.model_name},
              {"selection", selection_name(p.selection)},
              {"attention_threshold", std::round(double{p.attention_threshold} * 1e6) / 1e6},
              {"keep_ratio", std::round(double{p.keep_ratio} * 1e6) / 1e6},
              {"min_tokens", p.min_tokens},
              {"max_tokens", p.max_tokens},
              {"sink_tokens", p.sink_tokens},
              {"recent_always_kept_tokens", p.recent_always_kept_tokens},
              {"sliding_window", p.sliding_window}};
}

std::string params_text(const kvc_compress_params& p) {
  std::string t = format(
      "key_bits %d, value_bits %d, group_size %d, recent_full_precision_tokens %d, zstd_level %d",
      p.key_bits, p.value_bits, p.group_size, p.recent_full_precision_tokens, p.zstd_level);
  t += ", selection " + selection_name(p.selection);
  if (p.selection == KVC_SELECT_ATTENTION) {
    t += format(" (threshold %.2f)", static_cast<double>(p.attention_threshold));
  }
  if (p.selection == KVC_SELECT_KEY_NORM || p.selection == KVC_SELECT_RECENCY) {
    t += format(" (keep ratio %.2f)", static_cast<double>(p.keep_ratio));
  }
  if (p.sliding_window > 0) t += format(", sliding window %u", p.sliding_window);
  return t;
}

}  // namespace kvc::cli
