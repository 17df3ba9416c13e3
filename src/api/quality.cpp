// quality.cpp: C API section "Quality": thresholds, level names and cache comparison.
#include <kvc/kvc_tools.h>

#include "api/context.h"
#include "api/guard.h"
#include "api/versioned_struct.h"
#include "metrics/reconstruction.h"

namespace {

kvc_quality_thresholds threshold_defaults() {
  const kvc::QualityThresholds t;
  kvc_quality_thresholds c{};
  c.struct_size = sizeof c;
  c.min_cosine = static_cast<float>(t.min_cosine);
  c.min_snr_db = static_cast<float>(t.min_snr_db);
  return c;
}

}  // namespace

extern "C" {

KVC_API kvc_status kvc_quality_thresholds_default(kvc_quality_thresholds* thresholds,
                                                  uint32_t struct_size) {
  return kvc::fill_default(thresholds, struct_size, threshold_defaults());
}

KVC_API const char* kvc_quality_level_name(int32_t level) {
  switch (level) {
    case KVC_QUALITY_POOR:
      return "POOR";
    case KVC_QUALITY_ACCEPTABLE:
      return "ACCEPTABLE";
    case KVC_QUALITY_GOOD:
      return "GOOD";
    case KVC_QUALITY_EXCELLENT:
      return "EXCELLENT";
    default:
      return "UNKNOWN";
  }
}

KVC_API kvc_status kvc_quality_compare(kvc_context* ctx, const kvc_quality_thresholds* thresholds,
                                       const kvc_cache_shape* shape_a, const void* keys_a,
                                       size_t keys_a_size, const void* values_a,
                                       size_t values_a_size, const kvc_cache_shape* shape_b,
                                       const void* keys_b, size_t keys_b_size, const void* values_b,
                                       size_t values_b_size, kvc_quality* out_quality) {
  return kvc::guarded(ctx, [&] {
    const kvc_quality_thresholds t =
        kvc::read_versioned(thresholds, threshold_defaults(), "kvc_quality_thresholds");
    kvc::require(shape_a != nullptr && shape_b != nullptr, "shape_a or shape_b is NULL");
    kvc::require(out_quality != nullptr, "out_quality is NULL");
    kvc::QualityThresholds qt;
    qt.min_cosine = t.min_cosine;
    qt.min_snr_db = t.min_snr_db;
    const kvc::QualityReport r = kvc::compare_caches(
        ctx->backend, kvc::view_from_packed(*shape_a, keys_a, keys_a_size, values_a, values_a_size),
        kvc::view_from_packed(*shape_b, keys_b, keys_b_size, values_b, values_b_size), qt);
    kvc_quality q{};
    q.struct_size = sizeof q;
    q.level = static_cast<int32_t>(r.level);
    q.violations = r.violations;
    q.passed = r.violations == 0 ? 1 : 0;
    q.key_rmse = r.keys.rmse;
    q.key_snr_db = r.keys.snr_db;
    q.key_cosine = r.keys.cosine;
    q.key_max_error = r.keys.max_error;
    q.value_rmse = r.values.rmse;
    q.value_snr_db = r.values.snr_db;
    q.value_cosine = r.values.cosine;
    q.value_max_error = r.values.max_error;
    q.rmse = r.all.rmse;
    q.snr_db = r.all.snr_db;
    q.cosine = r.all.cosine;
    q.max_error = r.all.max_error;
    kvc::write_versioned(out_quality, q, "out_quality");
  });
}

}  // extern "C"
