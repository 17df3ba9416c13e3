// stats.cpp: C API section "Statistics": kvc_stats, its records per model, and attaching it to a
// context.
#include <kvc/kvc_tools.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "api/context.h"
#include "api/guard.h"
#include "api/stats_handle.h"
#include "api/stats_hooks.h"
#include "api/versioned_struct.h"
#include "metrics/model_stats.h"

namespace {

std::string_view name_or_empty(const char* model_name) {
  return model_name == nullptr ? std::string_view() : std::string_view(model_name);
}

void write_model_stats(const kvc::ModelTotals& t, kvc_model_stats* out) {
  kvc::require(out != nullptr, "out_model_stats is NULL");
  kvc_model_stats m{};
  m.struct_size = sizeof m;
  const size_t n = std::min(t.model_name.size(), sizeof m.model_name - 1);
  std::memcpy(m.model_name, t.model_name.data(), n);
  m.compress_calls = t.compress_calls;
  m.decompress_calls = t.decompress_calls;
  m.original_bytes = t.original_bytes;
  m.compressed_bytes = t.compressed_bytes;
  m.tokens_total = t.tokens_total;
  m.tokens_kept = t.tokens_kept;
  m.coverage_samples = t.coverage_samples;
  m.total_compress_ms = t.total_compress_ms;
  m.mean_compress_ms = t.mean_compress_ms();
  m.total_decompress_ms = t.total_decompress_ms;
  m.mean_decompress_ms = t.mean_decompress_ms();
  m.compression_ratio = t.compression_ratio();
  m.mean_savings_percent = t.mean_savings_percent();
  m.mean_attention_coverage = t.mean_attention_coverage();
  kvc::write_versioned(out, m, "out_model_stats");
}

}  // namespace

extern "C" {

KVC_API kvc_status kvc_stats_create(kvc_stats** out_stats) {
  if (out_stats == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  *out_stats = nullptr;
  return kvc::guarded_status([&] { *out_stats = new kvc_stats(); });
}

KVC_API void kvc_stats_free(kvc_stats* stats) { delete stats; }

KVC_API kvc_status kvc_context_set_stats(kvc_context* ctx, kvc_stats* stats) {
  return kvc::guarded(ctx, [&] { ctx->stats = stats; });
}

KVC_API kvc_status kvc_stats_record(kvc_stats* stats, const char* model_name,
                                    const kvc_metrics* metrics) {
  if (stats == nullptr || metrics == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  return kvc::guarded_status([&] {
    kvc::require(metrics->struct_size >= 8, "metrics.struct_size is too small");
    kvc::require(metrics->struct_size <= sizeof(kvc_metrics), "metrics.struct_size is too large");
    stats->stats.record_compress(name_or_empty(model_name), kvc::api::compress_sample(*metrics));
  });
}

KVC_API uint32_t kvc_stats_model_count(const kvc_stats* stats) {
  if (stats == nullptr) return 0;
  return static_cast<uint32_t>(stats->stats.model_count());
}

KVC_API kvc_status kvc_stats_get(const kvc_stats* stats, const char* model_name,
                                 kvc_model_stats* out_model_stats) {
  if (stats == nullptr || out_model_stats == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  return kvc::guarded_status([&] {
    const std::optional<kvc::ModelTotals> t = stats->stats.get(name_or_empty(model_name));
    kvc::require(t.has_value(), "model has no record");
    write_model_stats(*t, out_model_stats);
  });
}

KVC_API kvc_status kvc_stats_get_index(const kvc_stats* stats, uint32_t index,
                                       kvc_model_stats* out_model_stats) {
  if (stats == nullptr || out_model_stats == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  return kvc::guarded_status([&] {
    const std::optional<kvc::ModelTotals> t = stats->stats.get_index(index);
    kvc::require(t.has_value(), "index out of range");
    write_model_stats(*t, out_model_stats);
  });
}

KVC_API kvc_status kvc_stats_reset(kvc_stats* stats, const char* model_name) {
  if (stats == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  return kvc::guarded_status([&] {
    if (model_name == nullptr) {
      stats->stats.reset(std::nullopt);
    } else {
      stats->stats.reset(std::string_view(model_name));
    }
  });
}

}  // extern "C"
