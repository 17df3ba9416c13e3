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
#include "format/reader.h"
#include "metrics/validation.h"

namespace {

kvc_validate_params validate_defaults() {
  const kvc::ValidationThresholds t;
  kvc_validate_params p{};
  p.struct_size = sizeof p;
  p.min_cosine = static_cast<float>(t.min_cosine);
  p.min_snr_db = static_cast<float>(t.min_snr_db);
  p.min_attention_coverage = 0.0f;  // from the blob, else the adapter
  p.max_attention_error = static_cast<float>(t.max_attention_error);
  p.top_k = t.top_k;
  return p;
}

kvc::ValidationThresholds thresholds_from(const kvc_validate_params& p,
                                          const kvc::format::HeaderFields& header,
                                          const kvc_adapter* adapter) {
  const kvc_validate_params d = validate_defaults();
  kvc::ValidationThresholds t;
  t.min_cosine = p.min_cosine != 0 ? p.min_cosine : d.min_cosine;
  t.min_snr_db = p.min_snr_db != 0 ? p.min_snr_db : d.min_snr_db;
  t.max_attention_error =
      p.max_attention_error != 0 ? p.max_attention_error : d.max_attention_error;
  t.top_k = p.top_k != 0 ? p.top_k : d.top_k;
  kvc::require(t.min_cosine >= -1 && t.min_cosine <= 1,
               "min_cosine " + std::to_string(t.min_cosine) + " is not in [-1, 1]");
  kvc::require(t.max_attention_error > 0,
               "max_attention_error " + std::to_string(t.max_attention_error) + " is not positive");
  kvc::require(
      p.min_attention_coverage >= 0 && p.min_attention_coverage <= 1,
      "min_attention_coverage " + std::to_string(p.min_attention_coverage) + " is not in [0, 1]");
  if (p.min_attention_coverage > 0) {
    t.min_attention_coverage = p.min_attention_coverage;
  } else if (header.attention_threshold > 0) {
    t.min_attention_coverage = header.attention_threshold;
  } else if (adapter != nullptr && header.selection != KVC_SELECT_NONE) {
    t.min_attention_coverage = adapter->adapter.policy.attention_threshold;
  }
  return t;
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
    const kvc::CacheDims& d = original.dims;
    const kvc::QueryView q = kvc::api::query_view(query_shape, queries, queries_size, d.num_layers);
    if (q.present()) kvc::check_queries_fit(q, d.num_kv_heads, d.head_dim);

    const kvc::format::BlobReader reader(blob, blob_size);
    const kvc::format::HeaderFields& h = reader.header();
    const kvc::CacheDims& bd = h.dims;
    kvc::require(bd.num_layers == d.num_layers && bd.num_kv_heads == d.num_kv_heads &&
                     bd.num_tokens == d.num_tokens && bd.head_dim == d.head_dim,
                 "the blob holds a cache of [" + std::to_string(bd.num_layers) + "," +
                     std::to_string(bd.num_kv_heads) + "," + std::to_string(bd.num_tokens) + "," +
                     std::to_string(bd.head_dim) + "], the shape says [" +
                     std::to_string(d.num_layers) + "," + std::to_string(d.num_kv_heads) + "," +
                     std::to_string(d.num_tokens) + "," + std::to_string(d.head_dim) + "]");
    uint32_t warnings = 0;
    if (adapter != nullptr) {
      const kvc::adapters::Adapter& a = adapter->adapter;
      if (a.has_shape()) {
        kvc::require(static_cast<uint32_t>(a.num_kv_heads) == d.num_kv_heads &&
                         static_cast<uint32_t>(a.head_dim) == d.head_dim,
                     "the cache's heads and head_dim (" + std::to_string(d.num_kv_heads) + ", " +
                         std::to_string(d.head_dim) + ") differ from adapter " + a.name + "'s (" +
                         std::to_string(a.num_kv_heads) + ", " + std::to_string(a.head_dim) + ")");
      } else {
        warnings |= KVC_WARNING_SHAPE_FROM_INPUT;
      }
    }
    const kvc::ValidationThresholds t = thresholds_from(p, h, adapter);

    // The blob decoded at the original length in float32, and which tokens it kept.
    const uint64_t tensor_bytes = 4 * uint64_t{d.num_layers} * d.elements_per_tensor();
    std::vector<float> dk(tensor_bytes / 4), dv(tensor_bytes / 4);
    ctx->host_codec().decompress(blob, blob_size, kvc::DecodeRange{}, KVC_DTYPE_F32, true,
                                 dk.data(), dv.data(), tensor_bytes);
    const uint64_t layer_mask = uint64_t{d.num_kv_heads} * d.num_tokens;
    std::vector<uint8_t> mask(layer_mask * d.num_layers);
    kvc::fill_kept_mask(ctx->codec.kept_tokens(blob, blob_size, kvc::DecodeRange{}, nullptr), d,
                        mask.data());
    kvc_cache_shape decoded_shape{};
    decoded_shape.struct_size = sizeof decoded_shape;
    decoded_shape.num_layers = d.num_layers;
    decoded_shape.num_kv_heads = d.num_kv_heads;
    decoded_shape.num_tokens = d.num_tokens;
    decoded_shape.head_dim = d.head_dim;
    decoded_shape.dtype = KVC_DTYPE_F32;
    const kvc::CacheView decoded =
        kvc::view_from_packed(decoded_shape, dk.data(), tensor_bytes, dv.data(), tensor_bytes);

    const kvc::ValidationReport r =
        kvc::validate_cache(ctx->backend, original, decoded, mask.data(), h, q, t);
    kvc_validation v{};
    v.struct_size = sizeof v;
    v.level = static_cast<int32_t>(r.level);
    v.violations = r.violations;
    v.passed = r.violations == 0 ? 1 : 0;
    v.warnings = r.warnings | warnings;
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
    std::string report = r.report;
    if (warnings & KVC_WARNING_SHAPE_FROM_INPUT) {
      report += "warning: the adapter has no shape; the input's was used\n";
    }
    const size_t n = std::min(report.size(), sizeof v.report - 1);
    std::memcpy(v.report, report.data(), n);
    v.report[n] = '\0';
    kvc::write_versioned(out_validation, v, "out_validation");
  });
}

}  // extern "C"
