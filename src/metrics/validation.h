// validation.h: judges a compressed cache against its original: reconstruction and attention
// metrics, a level, violations, warnings and recommendations of which parameter to change.
#pragma once

#include <cstdint>
#include <string>

#include "backend/backend.h"
#include "core/cache_view.h"
#include "eviction/queries.h"
#include "format/header_fields.h"
#include "metrics/attention_fidelity.h"
#include "metrics/reconstruction.h"

namespace kvc {

struct ValidationThresholds {
  double min_cosine = 0.99;
  double min_snr_db = 20.0;
  double min_attention_coverage = 0.0;  // 0 = not checked
  double max_attention_error = 0.15;
  uint32_t top_k = 10;
};

struct ValidationReport {
  QualityReport reconstruction;  // over the kept tokens
  double information_loss = 0;   // energy not reproduced, evicted tokens counted whole
  bool attention_measured = false;
  AttentionFidelity attention;
  QualityLevel level = QualityLevel::Poor;
  uint32_t violations = 0;       // KVC_VIOLATION_*
  uint32_t warnings = 0;         // KVC_WARNING_*
  uint32_t recommendations = 0;  // KVC_RECOMMEND_*
  uint64_t tokens_total = 0;     // summed over layers
  uint64_t tokens_kept = 0;      // summed over layers
  std::string report;            // one line per violation, warning and recommendation
};

// original: the cache as given; decoded: the blob decoded at the original length (scatter), in
// float32; kept: [layer][head][token] mask; header: what the blob was made with; queries may be
// empty.
ValidationReport validate_cache(const Backend& backend, const CacheView& original,
                                const CacheView& decoded, const uint8_t* kept,
                                const format::HeaderFields& header, const QueryView& queries,
                                const ValidationThresholds& thresholds);

}  // namespace kvc
