// adapters.cpp: C API section "Adapters": the registry, adapters from config.json and GGUF, info,
// and an adapter turned into a cache shape and compress params.
#include <kvc/kvc_tools.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "adapters/adapter.h"
#include "adapters/gguf.h"
#include "api/adapter_handle.h"
#include "api/context.h"
#include "api/guard.h"
#include "api/versioned_struct.h"

namespace {

// The registry as C handles, built once (thread-safe static initialization), never freed.
const std::vector<kvc_adapter>& builtin_handles() {
  static const std::vector<kvc_adapter> handles = [] {
    std::vector<kvc_adapter> out;
    for (const kvc::adapters::Adapter& a : kvc::adapters::registry()) {
      out.push_back(kvc_adapter{a, true});
    }
    return out;
  }();
  return handles;
}

template <size_t N>
void copy_text(char (&dst)[N], const std::string& text) {
  const size_t n = std::min(text.size(), N - 1);
  std::memcpy(dst, text.data(), n);
  dst[n] = '\0';
}

}  // namespace

extern "C" {

KVC_API uint32_t kvc_adapter_count(void) {
  try {
    return static_cast<uint32_t>(builtin_handles().size());
  } catch (...) {
    return 0;
  }
}

KVC_API kvc_status kvc_adapter_get(uint32_t index, const kvc_adapter** out_adapter) {
  if (out_adapter == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  *out_adapter = nullptr;
  return kvc::guarded_status([&] {
    const std::vector<kvc_adapter>& handles = builtin_handles();
    kvc::require(index < handles.size(), "index out of range");
    *out_adapter = &handles[index];
  });
}

KVC_API kvc_status kvc_adapter_find(const char* name, const kvc_adapter** out_adapter) {
  if (out_adapter == nullptr || name == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  *out_adapter = nullptr;
  return kvc::guarded_status([&] {
    const kvc::adapters::Adapter* found = kvc::adapters::find(name);
    kvc::require(found != nullptr, "unknown model");
    const std::vector<kvc_adapter>& handles = builtin_handles();
    *out_adapter = &handles[static_cast<size_t>(found - kvc::adapters::registry().data())];
  });
}

KVC_API kvc_status kvc_adapter_from_hf_config(kvc_context* ctx, const char* json_text,
                                              size_t json_size, kvc_adapter** out_adapter) {
  if (out_adapter != nullptr) *out_adapter = nullptr;
  return kvc::guarded(ctx, [&] {
    kvc::require(json_text != nullptr || json_size == 0, "json_text is NULL");
    kvc::require(out_adapter != nullptr, "out_adapter is NULL");
    auto handle = std::make_unique<kvc_adapter>();
    handle->adapter =
        kvc::adapters::from_hf_config(std::string_view(json_text ? json_text : "", json_size));
    *out_adapter = handle.release();
  });
}

KVC_API kvc_status kvc_adapter_from_gguf(kvc_context* ctx, const char* path,
                                         kvc_adapter** out_adapter) {
  if (out_adapter != nullptr) *out_adapter = nullptr;
  return kvc::guarded(ctx, [&] {
    kvc::require(path != nullptr, "path is NULL");
    kvc::require(out_adapter != nullptr, "out_adapter is NULL");
    auto handle = std::make_unique<kvc_adapter>();
    handle->adapter = kvc::adapters::from_gguf(path);
    *out_adapter = handle.release();
  });
}

KVC_API void kvc_adapter_free(const kvc_adapter* adapter) {
  if (adapter == nullptr || adapter->is_builtin) return;
  delete adapter;
}

KVC_API kvc_status kvc_adapter_get_info(const kvc_adapter* adapter, kvc_adapter_info* out_info) {
  if (adapter == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  return kvc::guarded_status([&] {
    const kvc::adapters::Adapter& a = adapter->adapter;
    kvc_adapter_info info{};
    info.struct_size = sizeof info;
    info.attention_type = static_cast<int32_t>(a.attention);
    info.window_tokens = a.window_tokens;
    info.num_layers = a.num_layers;
    info.num_query_heads = a.num_query_heads;
    info.num_kv_heads = a.num_kv_heads;
    info.head_dim = a.head_dim;
    info.context_tokens = a.context_tokens;
    info.latent_dim = a.latent_dim;
    info.rope_key_dim = a.rope_key_dim;
    info.rope_theta = static_cast<float>(a.rope_theta);
    info.attention_threshold = a.policy.attention_threshold;
    info.sink_tokens = a.policy.sink_tokens;
    info.recent_tokens = a.policy.recent_tokens;
    info.key_bits = a.policy.key_bits;
    info.value_bits = a.policy.value_bits;
    info.group_size = a.policy.group_size;
    info.may_compress_keys = a.policy.may_compress_keys ? 1 : 0;
    info.is_builtin = adapter->is_builtin ? 1 : 0;
    copy_text(info.name, a.name);
    copy_text(info.family, a.family);
    copy_text(info.source, a.source);
    kvc::write_versioned(out_info, info, "out_info");
  });
}

// Multi-head latent attention caches one vector per token and layer (the compressed latent and
// the decoupled RoPE key), not per-head K and V. kvc stores keys and values, so the shape of such
// a model is 1 kv head of latent_dim + rope_key_dim elements: the caller passes that vector as
// keys and as values, and sizes and ratios are then those of the vector stored twice (the ratio
// is that of the real cache; the byte counts are twice its size).
KVC_API kvc_status kvc_adapter_cache_shape(const kvc_adapter* adapter, uint32_t num_tokens,
                                           kvc_dtype dtype, kvc_cache_shape* out_shape) {
  if (adapter == nullptr || out_shape == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  return kvc::guarded_status([&] {
    const kvc::adapters::Adapter& a = adapter->adapter;
    kvc::require(a.has_shape(), "adapter " + a.name + " has no shape (a closed model)");
    kvc::require(dtype == KVC_DTYPE_F32 || dtype == KVC_DTYPE_F16 || dtype == KVC_DTYPE_BF16,
                 "dtype " + std::to_string(dtype) + " is not F32, F16 or BF16");
    kvc_cache_shape shape{};
    shape.struct_size = sizeof shape;
    shape.num_layers = static_cast<uint32_t>(a.num_layers);
    shape.num_kv_heads = static_cast<uint32_t>(a.num_kv_heads);
    shape.num_tokens = num_tokens;
    shape.head_dim = static_cast<uint32_t>(a.head_dim);
    shape.dtype = dtype;
    kvc::write_versioned(out_shape, shape, "out_shape");
  });
}

KVC_API kvc_status kvc_adapter_compress_params(const kvc_adapter* adapter,
                                               kvc_compress_params* params) {
  if (adapter == nullptr || params == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  return kvc::guarded_status([&] {
    kvc::require(params->struct_size >= 8 && params->struct_size <= sizeof(kvc_compress_params),
                 "params.struct_size " + std::to_string(params->struct_size) +
                     " is not between 8 and " + std::to_string(sizeof(kvc_compress_params)));
    kvc_compress_params p{};
    std::memcpy(&p, params, params->struct_size);
    const kvc::adapters::PolicySettings s = adapter->adapter.policy_settings();
    p.key_bits = s.key_bits;
    p.value_bits = s.value_bits;
    p.group_size = s.group_size;
    p.recent_full_precision_tokens = s.recent_full_precision_tokens;
    p.attention_threshold = s.attention_threshold;
    p.sink_tokens = s.sink_tokens;
    p.recent_always_kept_tokens = s.recent_always_kept_tokens;
    p.sliding_window = s.sliding_window;
    std::memset(p.model_name, 0, sizeof p.model_name);
    copy_text(p.model_name, adapter->adapter.name);
    std::memcpy(params, &p, params->struct_size);  // fields beyond the caller's struct_size stay
  });
}

KVC_API const char* kvc_attention_type_name(int32_t attention_type) {
  if (attention_type < 0 || attention_type > KVC_ATTENTION_LATENT) return "unknown";
  return kvc::adapters::attention_type_name(
      static_cast<kvc::adapters::AttentionType>(attention_type));
}

}  // extern "C"
