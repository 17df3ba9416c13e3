// reconstruction.h: reconstruction error of a cache against its original (RMSE, SNR, cosine,
// max error) for keys, values and both, with a quality level and threshold violations.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "core/cache_view.h"

namespace kvc {

struct ErrorStats {
  double rmse = 0;
  double snr_db = 0;  // capped at kMaxSnrDb when the reconstruction is exact
  double cosine = 1;
  double max_error = 0;
  bool non_finite = false;  // the reconstruction has a NaN/Inf where the original is finite
};

constexpr double kMaxSnrDb = 200.0;

enum class QualityLevel : int32_t { Poor = 0, Acceptable = 1, Good = 2, Excellent = 3 };

struct QualityThresholds {
  double min_cosine = 0.99;
  double min_snr_db = 20.0;
};

struct QualityReport {
  ErrorStats keys, values, all;
  double energy_lost = 0;  // sum of squared errors / sum of squared originals, K and V together
  QualityLevel level = QualityLevel::Poor;
  uint32_t violations = 0;  // KVC_VIOLATION_* flags
};

// Compares b (reconstruction) with a (original); dims must agree except dtype and strides.
// kept: nullptr, or [layer][head][token] bytes; rows whose byte is 0 are left out.
QualityReport compare_caches(const Backend& backend, const CacheView& a, const CacheView& b,
                             const QualityThresholds& thresholds, const uint8_t* kept = nullptr);

// Level of one tensor's error: EXCELLENT cos >= 0.999 and SNR >= 30 dB; GOOD 0.99 and 20 dB;
// ACCEPTABLE 0.95 and 10 dB; POOR below.
QualityLevel level_of(const ErrorStats& s);

}  // namespace kvc
