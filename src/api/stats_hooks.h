// stats_hooks.h: how compress and decompress calls feed the kvc_stats attached to their context.
#pragma once

#include <kvc/kvc_tools.h>

#include <string_view>

#include "metrics/model_stats.h"

namespace kvc::api {

// One compress call's metrics as the statistics keep them (no further than metrics.struct_size).
CompressSample compress_sample(const kvc_metrics& metrics);

// Records one successful compress call into ctx's stats, when the context has stats attached.
void record_compress(kvc_context* ctx, std::string_view model_name, const kvc_metrics& metrics);

// Records one successful decompress call of elapsed_ms into ctx's stats, when attached.
void record_decompress(kvc_context* ctx, std::string_view model_name, double elapsed_ms);

}  // namespace kvc::api
