// estimate.cpp: C API kvc_estimate: blob size, ratio and tokens kept predicted from shape and
// params, without compressing.
#include <kvc/kvc_tools.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "api/compress_settings.h"
#include "api/context.h"
#include "api/guard.h"
#include "api/versioned_struct.h"
#include "codecs/cache_codec.h"
#include "core/cache_view.h"
#include "metrics/size_estimate.h"
#include "metrics/size_figures.h"

extern "C" {

KVC_API kvc_status kvc_estimate(kvc_context* ctx, const kvc_compress_params* params,
                                const kvc_cache_shape* shape, kvc_estimate_result* out_estimate) {
  return kvc::guarded(ctx, [&] {
    kvc::require(shape != nullptr, "shape is NULL");
    kvc::require(out_estimate != nullptr, "out_estimate is NULL");
    const kvc::CompressSettings settings = kvc::api::settings_from(params);
    const kvc::CacheDims dims = kvc::dims_from_shape(*shape);
    const kvc::KeptTokenCount kept = kvc::kept_token_count(settings.selection, dims.num_tokens);
    const kvc::SizeEstimate size = kvc::estimate_blob_size(settings, dims, kept.count);

    kvc_estimate_result r{};
    r.struct_size = sizeof r;
    r.exact_tokens = kept.is_exact ? 1 : 0;
    r.original_bytes = dims.total_bytes();
    r.compressed_bytes = size.blob_bytes;
    const kvc::SizeFigures f = kvc::size_figures(dims, r.compressed_bytes);
    r.compression_ratio = f.compression_ratio;
    r.bandwidth_savings_percent = f.bandwidth_savings_percent;
    r.bits_per_element = f.bits_per_element;
    r.tokens_total = uint64_t{dims.num_layers} * dims.num_tokens;  // summed over layers
    r.tokens_kept = uint64_t{dims.num_layers} * kept.count;
    kvc::write_versioned(out_estimate, r, "out_estimate");
  });
}

}  // extern "C"
