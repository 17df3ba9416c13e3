// validate.cpp: C API section "Estimate, validate, benchmark": kvc_validate and its params.
#include <kvc/kvc_tools.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "api/adapter_handle.h"
#include "api/context.h"
#include "api/guard.h"
#include "api/query_view.h"
#include "api/versioned_struct.h"
#include "eviction/attention_mass.h"
#include "tools/blob_validation.h"

namespace {

kvc_validate_params validate_defaults() {
  const kvc::ValidationThresholds t = kvc::default_validation_thresholds();
  kvc_validate_params p{};
  p.struct_size = sizeof p;
  p.min_cosine = static_cast<float>(t.min_cosine);
  p.min_snr_db = static_cast<float>(t.min_snr_db);
  p.min_attention_coverage = 0.0f;  // from the blob, else the adapter
  p.max_attention_error = static_cast<float>(t.max_attention_error);
  p.top_k = t.top_k;
  return p;
}

}  // namespace

extern "C" {

KVC_API kvc_status kvc_validate_params_default(kvc_validate_params* params, uint32_t struct_size) {
  return kvc::fill_default(params, struct_size, validate_defaults());
}

KVC_API kvc_status kvc_validate(kvc_context* ctx, const kvc_validate_params* params,
                                const kvc_adapter* adapter, const kvc_cache_shape* shape,
                                const void* keys, size_t keys_size, const void* values,
                                size_t values_size, const kvc_query_shape* query_shape,
                                const void* queries, size_t queries_size, const void* blob,
                                size_t blob_size, kvc_validation* out_validation) {
  return kvc::guarded(ctx, [&] {
    const kvc_validate_params p =
        kvc::read_versioned(params, validate_defaults(), "kvc_validate_params");
    kvc::require(shape != nullptr, "shape is NULL");
    kvc::require(blob != nullptr || blob_size == 0, "blob is NULL");
    kvc::require(out_validation != nullptr, "out_validation is NULL");
    const kvc::CacheView original =
        kvc::view_from_packed(*shape, keys, keys_size, values, values_size);
    const kvc::QueryView q =
        kvc::api::query_view(query_shape, queries, queries_size, original.dims.num_layers);
    if (q.present()) kvc::check_queries_fit(q, original.dims.num_kv_heads, original.dims.head_dim);
    kvc::ValidationRequest request;
    request.min_cosine = p.min_cosine;
    request.min_snr_db = p.min_snr_db;
    request.min_attention_coverage = p.min_attention_coverage;
    request.max_attention_error = p.max_attention_error;
    request.top_k = p.top_k;
    const kvc::ValidationReport r =
        kvc::validate_blob(ctx->host_codec(), ctx->backend, original, q, blob, blob_size, request,
                           adapter != nullptr ? &adapter->adapter : nullptr);
    kvc_validation v{};
    v.struct_size = sizeof v;
    v.level = static_cast<int32_t>(r.level);
    v.violations = r.violations;
    v.passed = r.violations == 0 ? 1 : 0;
    v.warnings = r.warnings;
    v.recommendations = r.recommendations;
    const kvc::QualityReport& rec = r.reconstruction;
    v.key_rmse = rec.keys.rmse;
    v.key_snr_db = rec.keys.snr_db;
    v.key_cosine = rec.keys.cosine;
    v.key_max_error = rec.keys.max_error;
    v.value_rmse = rec.values.rmse;
    v.value_snr_db = rec.values.snr_db;
    v.value_cosine = rec.values.cosine;
    v.value_max_error = rec.values.max_error;
    v.rmse = rec.all.rmse;
    v.snr_db = rec.all.snr_db;
    v.cosine = rec.all.cosine;
    v.max_error = rec.all.max_error;
    const bool att = r.attention_measured;
    v.attention_coverage = att ? r.attention.coverage : -1.0;
    v.attention_output_error = att ? r.attention.output_error : -1.0;
    v.attention_kl = att ? r.attention.kl : -1.0;
    v.topk_overlap = att ? r.attention.topk_overlap : -1.0;
    v.information_loss = r.information_loss;
    v.tokens_total = r.tokens_total;
    v.tokens_kept = r.tokens_kept;
    const std::string& report = r.report;
    const size_t n = std::min(report.size(), sizeof v.report - 1);
    std::memcpy(v.report, report.data(), n);
    v.report[n] = '\0';
    kvc::write_versioned(out_validation, v, "out_validation");
  });
}

}  // extern "C"
