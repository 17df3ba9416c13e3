// estimate.cpp: C API kvc_estimate: blob size, ratio and tokens kept predicted from shape and
// params, without compressing.
#include <kvc/kvc.h>

#include <cmath>
#include <cstring>
#include <string>

#include "api/context.h"
#include "api/guard.h"
#include "api/versioned_struct.h"
#include "codecs/cache_codec.h"
#include "core/cache_view.h"
#include "metrics/size_estimate.h"

namespace {

kvc_compress_params params_or_defaults(const kvc_compress_params* given) {
  kvc_compress_params defaults{};
  kvc_compress_params_default(&defaults, sizeof defaults);
  return kvc::read_versioned(given, defaults, "kvc_compress_params");
}

// As kvc_compress reads its params (compress.cpp): the codec fields and the selection.
kvc::CompressSettings settings_of(const kvc_compress_params& p) {
  kvc::CompressSettings s;
  s.key_bits = p.key_bits;
  s.value_bits = p.value_bits;
  kvc::require(p.group_size > 0,
               "group_size " + std::to_string(p.group_size) + " is not 32, 64 or 128");
  s.group_size = static_cast<uint32_t>(p.group_size);
  kvc::require(p.recent_tokens >= 0,
               "recent_tokens " + std::to_string(p.recent_tokens) + " is negative");
  s.recent_tokens = static_cast<uint32_t>(p.recent_tokens);
  s.zstd_level = p.zstd_level;
  const size_t name_length = strnlen(p.model_name, sizeof p.model_name);
  kvc::require(name_length < sizeof p.model_name,
               "model_name is not NUL-terminated within 64 bytes");
  s.model_name.assign(p.model_name, name_length);
  kvc::SelectionSettings& sel = s.selection;
  sel.policy = static_cast<kvc::SelectionPolicy>(p.selection);
  sel.attention_threshold = p.attention_threshold;
  sel.keep_ratio = p.keep_ratio;
  sel.min_tokens = p.min_tokens;
  sel.max_tokens = p.max_tokens;
  sel.sink_tokens = p.sink_tokens;
  sel.keep_recent = p.keep_recent;
  sel.sliding_window = p.sliding_window;
  kvc::require(p.per_head == 0 || p.per_head == 1,
               "per_head " + std::to_string(p.per_head) + " is not 0 or 1");
  sel.per_head = p.per_head == 1;
  kvc::validate(s);
  return s;
}

}  // namespace

extern "C" {

KVC_API kvc_status kvc_estimate(kvc_context* ctx, const kvc_compress_params* params,
                                const kvc_cache_shape* shape, kvc_estimate_result* out_estimate) {
  return kvc::guarded(ctx, [&] {
    kvc::require(shape != nullptr, "shape is NULL");
    kvc::require(out_estimate != nullptr, "out_estimate is NULL");
    const kvc_compress_params p = params_or_defaults(params);
    const kvc::CompressSettings settings = settings_of(p);
    const kvc::CacheDims dims = kvc::dims_from_shape(*shape);
    const kvc::KeptTokenCount kept = kvc::kept_token_count(settings.selection, dims.num_tokens);
    const kvc::SizeEstimate size = kvc::estimate_blob_size(settings, dims, kept.count);

    kvc_estimate_result r{};
    r.struct_size = sizeof r;
    r.exact_tokens = kept.is_exact ? 1 : 0;
    r.original_bytes = dims.total_bytes();
    r.compressed_bytes = size.blob_bytes;
    r.compression_ratio =
        static_cast<double>(r.original_bytes) / static_cast<double>(r.compressed_bytes);
    r.bandwidth_savings_percent =
        100.0 * (1.0 - static_cast<double>(r.compressed_bytes) /
                           static_cast<double>(std::max<uint64_t>(r.original_bytes, 1)));
    const uint64_t elements = 2 * uint64_t{dims.num_layers} * dims.elements_per_tensor();
    r.bits_per_element = elements == 0 ? 0.0
                                       : 8.0 * static_cast<double>(r.compressed_bytes) /
                                             static_cast<double>(elements);
    r.tokens_total = uint64_t{dims.num_layers} * dims.num_tokens;  // summed over layers
    r.tokens_kept = uint64_t{dims.num_layers} * kept.count;
    kvc::write_versioned(out_estimate, r, "out_estimate");
  });
}

}  // extern "C"
