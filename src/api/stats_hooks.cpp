// stats_hooks.cpp: how compress and decompress calls feed the kvc_stats attached to their context.
#include "api/stats_hooks.h"

#include <algorithm>
#include <cstring>

#include "api/context.h"
#include "api/stats_handle.h"

namespace kvc::api {

CompressSample compress_sample(const kvc_metrics& metrics) {
  // Read no further than the caller's struct_size: fields it lacks keep their defaults.
  kvc_metrics m{};
  m.attention_coverage = -1;
  std::memcpy(&m, &metrics, std::min<size_t>(metrics.struct_size, sizeof m));
  CompressSample s;
  s.original_bytes = m.original_bytes;
  s.compressed_bytes = m.compressed_bytes;
  s.tokens_total = m.tokens_total;
  s.tokens_kept = m.tokens_kept;
  s.compress_ms = m.compress_ms;
  s.savings_percent = m.bandwidth_savings_percent;
  s.attention_coverage = m.attention_coverage;
  return s;
}

void record_compress(kvc_context* ctx, std::string_view model_name, const kvc_metrics& metrics) {
  if (ctx == nullptr || ctx->stats == nullptr) return;
  ctx->stats->stats.record_compress(model_name, compress_sample(metrics));
}

void record_decompress(kvc_context* ctx, std::string_view model_name, double elapsed_ms) {
  if (ctx == nullptr || ctx->stats == nullptr) return;
  ctx->stats->stats.record_decompress(model_name, elapsed_ms);
}

}  // namespace kvc::api
