// blob_validation.cpp: validates a .kvc blob against the cache it was made from: decodes it at
// the original length, finds the kept tokens, resolves the thresholds and judges the result.
#include "tools/blob_validation.h"

#include <kvc/kvc_tools.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "format/reader.h"

namespace kvc {
namespace {

std::string dims_text(const CacheDims& d) {
  return "[" + std::to_string(d.num_layers) + "," + std::to_string(d.num_kv_heads) + "," +
         std::to_string(d.num_tokens) + "," + std::to_string(d.head_dim) + "]";
}

ValidationThresholds resolve(const ValidationRequest& r, const format::HeaderFields& header,
                             const adapters::Adapter* adapter) {
  const ValidationThresholds d = default_validation_thresholds();
  ValidationThresholds t;
  t.min_cosine = r.min_cosine != 0 ? r.min_cosine : d.min_cosine;
  t.min_snr_db = r.min_snr_db != 0 ? r.min_snr_db : d.min_snr_db;
  t.max_attention_error =
      r.max_attention_error != 0 ? r.max_attention_error : d.max_attention_error;
  t.top_k = r.top_k != 0 ? r.top_k : d.top_k;
  require(t.min_cosine >= -1 && t.min_cosine <= 1,
          "min_cosine " + std::to_string(t.min_cosine) + " is not in [-1, 1]");
  require(t.max_attention_error > 0,
          "max_attention_error " + std::to_string(t.max_attention_error) + " is not positive");
  require(
      r.min_attention_coverage >= 0 && r.min_attention_coverage <= 1,
      "min_attention_coverage " + std::to_string(r.min_attention_coverage) + " is not in [0, 1]");
  if (r.min_attention_coverage > 0) {
    t.min_attention_coverage = r.min_attention_coverage;
  } else if (header.attention_threshold > 0) {
    t.min_attention_coverage = header.attention_threshold;
  } else if (adapter != nullptr && header.selection != KVC_SELECT_NONE) {
    t.min_attention_coverage = adapter->policy.attention_threshold;
  }
  return t;
}

}  // namespace

ValidationThresholds default_validation_thresholds() { return ValidationThresholds{}; }

ValidationReport validate_blob(CacheCodec& host_codec, const Backend& backend,
                               const CacheView& original, const QueryView& queries,
                               const void* blob, size_t blob_bytes,
                               const ValidationRequest& request, const adapters::Adapter* adapter) {
  const CacheDims& d = original.dims;
  const format::BlobReader reader(blob, blob_bytes);
  const format::HeaderFields& h = reader.header();
  const CacheDims& bd = h.dims;
  require(bd.num_layers == d.num_layers && bd.num_kv_heads == d.num_kv_heads &&
              bd.num_tokens == d.num_tokens && bd.head_dim == d.head_dim,
          "the blob holds a cache of " + dims_text(bd) + ", the shape says " + dims_text(d));
  uint32_t warnings = 0;
  if (adapter != nullptr) {
    if (adapter->has_shape()) {
      require(static_cast<uint32_t>(adapter->num_kv_heads) == d.num_kv_heads &&
                  static_cast<uint32_t>(adapter->head_dim) == d.head_dim,
              "the cache's heads and head_dim (" + std::to_string(d.num_kv_heads) + ", " +
                  std::to_string(d.head_dim) + ") differ from adapter " + adapter->name + "'s (" +
                  std::to_string(adapter->num_kv_heads) + ", " + std::to_string(adapter->head_dim) +
                  ")");
    } else {
      warnings |= KVC_WARNING_SHAPE_FROM_INPUT;
    }
  }
  const ValidationThresholds t = resolve(request, h, adapter);

  // The blob decoded at the original length in float32, and which tokens it kept.
  const uint64_t tensor_bytes = 4 * uint64_t{d.num_layers} * d.elements_per_tensor();
  std::vector<float> dk(tensor_bytes / 4), dv(tensor_bytes / 4);
  host_codec.decompress(blob, blob_bytes, DecodeRange{}, KVC_DTYPE_F32, true, dk.data(), dv.data(),
                        tensor_bytes);
  std::vector<uint8_t> mask(uint64_t{d.num_kv_heads} * d.num_tokens * d.num_layers);
  fill_kept_mask(host_codec.kept_tokens(blob, blob_bytes, DecodeRange{}, nullptr), d, mask.data());
  CacheDims decoded_dims = d;
  decoded_dims.dtype = DType::F32;
  const kvc_cache_shape decoded_shape = packed_shape(decoded_dims);
  const CacheView decoded =
      view_from_packed(decoded_shape, dk.data(), tensor_bytes, dv.data(), tensor_bytes);

  ValidationReport r = validate_cache(backend, original, decoded, mask.data(), h, queries, t);
  r.warnings |= warnings;
  if (warnings & KVC_WARNING_SHAPE_FROM_INPUT) {
    r.report += "warning: the adapter has no shape; the input's was used\n";
  }
  return r;
}

}  // namespace kvc
