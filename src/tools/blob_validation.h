// blob_validation.h: validates a .kvc blob against the cache it was made from: decodes it at the
// original length, finds the kept tokens, resolves the thresholds and judges the result.
#pragma once

#include <cstddef>
#include <cstdint>

#include "adapters/adapter.h"
#include "backend/backend.h"
#include "codecs/cache_codec.h"
#include "core/cache_view.h"
#include "eviction/queries.h"
#include "metrics/validation.h"

namespace kvc {

// The caller's thresholds; 0 in a field takes its default. min_attention_coverage 0 takes the
// blob's attention threshold, else (for a blob with token selection) the adapter's.
struct ValidationRequest {
  double min_cosine = 0;
  double min_snr_db = 0;
  double min_attention_coverage = 0;
  double max_attention_error = 0;
  uint32_t top_k = 0;
};

// The defaults a 0 field of ValidationRequest takes.
ValidationThresholds default_validation_thresholds();

// Validates blob against original (host memory) and the queries (may be empty). adapter may be
// null; its shape, when it has one, must match the cache's heads and head_dim (else
// KVC_WARNING_SHAPE_FROM_INPUT is added). Throws Error for a blob of another shape, corrupt data
// or thresholds out of range.
ValidationReport validate_blob(CacheCodec& host_codec, const Backend& backend,
                               const CacheView& original, const QueryView& queries,
                               const void* blob, size_t blob_bytes,
                               const ValidationRequest& request, const adapters::Adapter* adapter);

}  // namespace kvc
