// reconstruction.cpp: reconstruction error of a cache against its original (RMSE, SNR, cosine,
// max error) for keys, values and both, with a quality level and threshold violations.
#include "metrics/reconstruction.h"

#include <kvc/kvc_tools.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace kvc {
namespace {

struct Accumulator {
  double sum_sq_error = 0, sum_sq_ref = 0, sum_sq_rec = 0, dot = 0, max_error = 0;
  uint64_t count = 0;
  bool non_finite = false;

  void add(const float* ref, const float* rec, size_t n) {
    for (size_t i = 0; i < n; ++i) {
      const double a = ref[i], b = rec[i];
      if (!std::isfinite(a)) continue;  // nothing to measure against
      if (!std::isfinite(b)) {
        non_finite = true;
        continue;
      }
      const double e = b - a;
      sum_sq_error += e * e;
      sum_sq_ref += a * a;
      sum_sq_rec += b * b;
      dot += a * b;
      max_error = std::max(max_error, std::fabs(e));
      ++count;
    }
  }
  void merge(const Accumulator& o) {
    sum_sq_error += o.sum_sq_error;
    sum_sq_ref += o.sum_sq_ref;
    sum_sq_rec += o.sum_sq_rec;
    dot += o.dot;
    max_error = std::max(max_error, o.max_error);
    count += o.count;
    non_finite = non_finite || o.non_finite;
  }
  ErrorStats stats() const {
    ErrorStats s;
    s.non_finite = non_finite;
    s.max_error = max_error;
    s.rmse = count ? std::sqrt(sum_sq_error / static_cast<double>(count)) : 0.0;
    if (sum_sq_error == 0) {
      s.snr_db = kMaxSnrDb;
    } else {
      s.snr_db = sum_sq_ref > 0 ? std::min(kMaxSnrDb, 10.0 * std::log10(sum_sq_ref / sum_sq_error))
                                : -kMaxSnrDb;
    }
    const double norms = std::sqrt(sum_sq_ref) * std::sqrt(sum_sq_rec);
    s.cosine = norms > 0 ? dot / norms : (sum_sq_ref == sum_sq_rec ? 1.0 : 0.0);
    return s;
  }
};

Accumulator accumulate(const Backend& backend, const TensorView& a, const TensorView& b,
                       const CacheDims& d, const uint8_t* kept, std::vector<float>& ra,
                       std::vector<float>& rb) {
  Accumulator acc;
  for (uint32_t h = 0; h < d.num_kv_heads; ++h) {
    for (uint32_t t = 0; t < d.num_tokens; ++t) {
      if (kept != nullptr && kept[uint64_t{h} * d.num_tokens + t] == 0) continue;
      backend.convert(a.row(h, t), a.dtype, ra.data(), DType::F32, d.head_dim);
      backend.convert(b.row(h, t), b.dtype, rb.data(), DType::F32, d.head_dim);
      acc.add(ra.data(), rb.data(), d.head_dim);
    }
  }
  return acc;
}

}  // namespace

QualityLevel level_of(const ErrorStats& s) {
  if (s.non_finite) return QualityLevel::Poor;
  if (s.cosine >= 0.999 && s.snr_db >= 30) return QualityLevel::Excellent;
  if (s.cosine >= 0.99 && s.snr_db >= 20) return QualityLevel::Good;
  if (s.cosine >= 0.95 && s.snr_db >= 10) return QualityLevel::Acceptable;
  return QualityLevel::Poor;
}

QualityReport compare_caches(const Backend& backend, const CacheView& a, const CacheView& b,
                             const QualityThresholds& t, const uint8_t* kept) {
  const CacheDims& da = a.dims;
  const CacheDims& db = b.dims;
  require(da.num_layers == db.num_layers && da.num_kv_heads == db.num_kv_heads &&
              da.num_tokens == db.num_tokens && da.head_dim == db.head_dim,
          "caches differ in shape: [" + std::to_string(da.num_layers) + "," +
              std::to_string(da.num_kv_heads) + "," + std::to_string(da.num_tokens) + "," +
              std::to_string(da.head_dim) + "] vs [" + std::to_string(db.num_layers) + "," +
              std::to_string(db.num_kv_heads) + "," + std::to_string(db.num_tokens) + "," +
              std::to_string(db.head_dim) + "]");
  std::vector<float> ra(da.head_dim), rb(da.head_dim);
  Accumulator keys, values;
  const uint64_t layer_mask = uint64_t{da.num_kv_heads} * da.num_tokens;
  for (uint32_t l = 0; l < da.num_layers; ++l) {
    const uint8_t* layer_kept = kept != nullptr ? kept + l * layer_mask : nullptr;
    keys.merge(accumulate(backend, a.key(l), b.key(l), da, layer_kept, ra, rb));
    values.merge(accumulate(backend, a.value(l), b.value(l), da, layer_kept, ra, rb));
  }
  Accumulator all = keys;
  all.merge(values);
  QualityReport r;
  r.keys = keys.stats();
  r.values = values.stats();
  r.all = all.stats();
  r.energy_lost = all.sum_sq_ref > 0 ? all.sum_sq_error / all.sum_sq_ref : 0.0;
  r.level = std::min(level_of(r.keys), level_of(r.values));
  if (r.keys.cosine < t.min_cosine) r.violations |= KVC_VIOLATION_KEY_COSINE;
  if (r.values.cosine < t.min_cosine) r.violations |= KVC_VIOLATION_VALUE_COSINE;
  if (r.keys.snr_db < t.min_snr_db) r.violations |= KVC_VIOLATION_KEY_SNR;
  if (r.values.snr_db < t.min_snr_db) r.violations |= KVC_VIOLATION_VALUE_SNR;
  if (all.non_finite) r.violations |= KVC_VIOLATION_NON_FINITE;
  return r;
}

}  // namespace kvc
