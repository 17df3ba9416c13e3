// stats_hooks.cpp: how compress and decompress calls feed the kvc_stats attached to their context.
#include "api/stats_hooks.h"

#include "api/context.h"

namespace kvc::api {

void record_compress(kvc_context* ctx, std::string_view model_name, const kvc_metrics& metrics) {
  if (ctx->stats == nullptr) return;
  (void)model_name;
  (void)metrics;
}

void record_decompress(kvc_context* ctx, std::string_view model_name, double elapsed_ms) {
  if (ctx->stats == nullptr) return;
  (void)model_name;
  (void)elapsed_ms;
}

}  // namespace kvc::api
