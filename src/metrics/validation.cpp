// validation.cpp: judges a compressed cache against its original: reconstruction and attention
// metrics, a level, violations, warnings and recommendations of which parameter to change.
#include "metrics/validation.h"

#include <kvc/kvc_tools.h>

#include <algorithm>
#include <cstdio>

namespace kvc {
namespace {

std::string fmt(const char* format, double a, double b = 0) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, format, a, b);
  return buffer;
}

// Level of the attention-output error: EXCELLENT below 0.02, GOOD below 0.08, ACCEPTABLE below
// 0.15, else POOR (4-bit keys and values of SmolLM2's real cache give about 0.11).
QualityLevel attention_level(double error) {
  if (error < 0.02) return QualityLevel::Excellent;
  if (error < 0.08) return QualityLevel::Good;
  if (error < 0.15) return QualityLevel::Acceptable;
  return QualityLevel::Poor;
}

// Which of keys and values to give more bits: the one with the larger cosine error.
uint32_t more_bits_for_worse(const QualityReport& r, const format::HeaderFields& h) {
  const bool keys_worse = (1.0 - r.keys.cosine) >= (1.0 - r.values.cosine);
  if (keys_worse && h.key_bits < 8) return KVC_RECOMMEND_MORE_KEY_BITS;
  if (!keys_worse && h.value_bits < 8) return KVC_RECOMMEND_MORE_VALUE_BITS;
  if (h.key_bits < 8) return KVC_RECOMMEND_MORE_KEY_BITS;
  if (h.value_bits < 8) return KVC_RECOMMEND_MORE_VALUE_BITS;
  return h.group_size > 32 ? KVC_RECOMMEND_SMALLER_GROUPS : 0u;
}

void add_line(std::string& report, const std::string& line) {
  report += line;
  report += '\n';
}

}  // namespace

ValidationReport validate_cache(const Backend& backend, const CacheView& original,
                                const CacheView& decoded, const uint8_t* kept,
                                const format::HeaderFields& h, const QueryView& queries,
                                const ValidationThresholds& t) {
  const CacheDims& d = original.dims;
  ValidationReport r;
  QualityThresholds qt;
  qt.min_cosine = t.min_cosine;
  qt.min_snr_db = t.min_snr_db;
  r.reconstruction = compare_caches(backend, original, decoded, qt, kept);
  r.information_loss = compare_caches(backend, original, decoded, qt, nullptr).energy_lost;
  r.violations = r.reconstruction.violations;
  r.level = r.reconstruction.level;
  r.tokens_total = uint64_t{d.num_tokens} * d.num_layers;
  const uint64_t per_layer = uint64_t{d.num_kv_heads} * d.num_tokens;
  for (uint32_t l = 0; l < d.num_layers; ++l) {
    // A layer keeps the same count in every head: count head 0's row.
    const uint8_t* row = kept + l * per_layer;
    r.tokens_kept += static_cast<uint64_t>(std::count(row, row + d.num_tokens, uint8_t{1}));
  }

  if (queries.present()) {
    r.attention_measured = true;
    r.attention = attention_fidelity(backend, original, decoded, kept, queries, t.top_k);
    r.level = std::min(r.level, attention_level(r.attention.output_error));
    if (t.min_attention_coverage > 0 && r.attention.coverage < t.min_attention_coverage) {
      r.violations |= KVC_VIOLATION_ATTENTION_COVERAGE;
    }
    if (r.attention.output_error > t.max_attention_error) {
      r.violations |= KVC_VIOLATION_ATTENTION_ERROR;
    }
  } else {
    r.warnings |= KVC_WARNING_NO_QUERIES;
  }
  if (r.tokens_kept * 2 < r.tokens_total) r.warnings |= KVC_WARNING_MANY_EVICTED;

  const ErrorStats& ks = r.reconstruction.keys;
  const ErrorStats& vs = r.reconstruction.values;
  std::string& out = r.report;
  if (r.violations & KVC_VIOLATION_KEY_COSINE) {
    add_line(out, fmt("violation: key cosine %.5f is below %.5f", ks.cosine, t.min_cosine));
  }
  if (r.violations & KVC_VIOLATION_VALUE_COSINE) {
    add_line(out, fmt("violation: value cosine %.5f is below %.5f", vs.cosine, t.min_cosine));
  }
  if (r.violations & KVC_VIOLATION_KEY_SNR) {
    add_line(out, fmt("violation: key SNR %.2f dB is below %.2f dB", ks.snr_db, t.min_snr_db));
  }
  if (r.violations & KVC_VIOLATION_VALUE_SNR) {
    add_line(out, fmt("violation: value SNR %.2f dB is below %.2f dB", vs.snr_db, t.min_snr_db));
  }
  if (r.violations & KVC_VIOLATION_NON_FINITE) {
    add_line(out, "violation: the reconstruction has NaN or infinity where the original is finite");
  }
  if (r.violations & KVC_VIOLATION_ATTENTION_COVERAGE) {
    add_line(out, fmt("violation: kept tokens hold %.4f of the attention, below %.4f",
                      r.attention.coverage, t.min_attention_coverage));
  }
  if (r.violations & KVC_VIOLATION_ATTENTION_ERROR) {
    add_line(out, fmt("violation: attention output error %.4f is above %.4f",
                      r.attention.output_error, t.max_attention_error));
  }
  if (r.warnings & KVC_WARNING_NO_QUERIES) {
    add_line(out, "warning: no queries given: attention metrics were not measured");
  }
  if (r.warnings & KVC_WARNING_MANY_EVICTED) {
    add_line(out, fmt("warning: only %.0f of %.0f tokens were kept", double(r.tokens_kept),
                      double(r.tokens_total)));
  }

  // Recommendations: what to change, in which direction.
  uint32_t& rec = r.recommendations;
  if (r.violations & (KVC_VIOLATION_KEY_COSINE | KVC_VIOLATION_KEY_SNR)) {
    rec |= h.key_bits < 8 ? KVC_RECOMMEND_MORE_KEY_BITS
                          : (h.group_size > 32 ? KVC_RECOMMEND_SMALLER_GROUPS : 0u);
  }
  if (r.violations & (KVC_VIOLATION_VALUE_COSINE | KVC_VIOLATION_VALUE_SNR)) {
    rec |= h.value_bits < 8 ? KVC_RECOMMEND_MORE_VALUE_BITS
                            : (h.group_size > 32 ? KVC_RECOMMEND_SMALLER_GROUPS : 0u);
  }
  if (r.violations & KVC_VIOLATION_ATTENTION_COVERAGE) {
    rec |= KVC_RECOMMEND_HIGHER_THRESHOLD;
    if (h.selection != 0 && r.attention.coverage < 0.5) rec |= KVC_RECOMMEND_MORE_SINK_TOKENS;
  }
  if (r.violations & KVC_VIOLATION_ATTENTION_ERROR) {
    if (r.attention.coverage < 0.99 && h.selection != 0) rec |= KVC_RECOMMEND_HIGHER_THRESHOLD;
    rec |= more_bits_for_worse(r.reconstruction, h);
    if (h.recent_tokens == 0) rec |= KVC_RECOMMEND_MORE_RECENT_TOKENS;
  }
  const bool spare_quality = r.violations == 0 && r.level == QualityLevel::Excellent &&
                             (h.key_bits > 2 || h.value_bits > 2);
  if (spare_quality) {
    r.warnings |= KVC_WARNING_QUALITY_TO_SPARE;
    rec |= KVC_RECOMMEND_FEWER_BITS;
    add_line(out, "warning: quality is well above every threshold");
  }
  if (r.violations == 0 && h.selection == KVC_SELECT_ATTENTION && r.attention_measured &&
      t.min_attention_coverage > 0 &&
      r.attention.coverage >= t.min_attention_coverage + 0.5 * (1.0 - t.min_attention_coverage) &&
      r.attention.coverage < 0.999) {
    rec |= KVC_RECOMMEND_LOWER_THRESHOLD;
  }
  if (rec & KVC_RECOMMEND_MORE_KEY_BITS) {
    add_line(out, fmt("recommend: raise key_bits from %.0f (keys lose the most)", h.key_bits));
  }
  if (rec & KVC_RECOMMEND_MORE_VALUE_BITS) {
    add_line(out, fmt("recommend: raise value_bits from %.0f", h.value_bits));
  }
  if (rec & KVC_RECOMMEND_SMALLER_GROUPS) {
    add_line(out, fmt("recommend: lower group_size from %.0f", h.group_size));
  }
  if (rec & KVC_RECOMMEND_MORE_RECENT_TOKENS) {
    add_line(out, "recommend: keep the newest tokens in full precision (raise recent_tokens)");
  }
  if (rec & KVC_RECOMMEND_HIGHER_THRESHOLD) {
    add_line(out,
             "recommend: keep more tokens (raise attention_threshold, keep_ratio or "
             "min_tokens)");
  }
  if (rec & KVC_RECOMMEND_MORE_SINK_TOKENS) {
    add_line(out, "recommend: raise sink_tokens (the first tokens draw much attention)");
  }
  if (rec & KVC_RECOMMEND_FEWER_BITS) {
    add_line(out, fmt("recommend: fewer bits would do (key_bits %.0f, value_bits %.0f)", h.key_bits,
                      h.value_bits));
  }
  if (rec & KVC_RECOMMEND_LOWER_THRESHOLD) {
    add_line(out, fmt("recommend: lower attention_threshold: coverage %.4f is well above %.4f",
                      r.attention.coverage, t.min_attention_coverage));
  }
  return r;
}

}  // namespace kvc
