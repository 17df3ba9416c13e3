// size_figures.h: the one formula for compression ratio, bandwidth savings and bits per element.
#pragma once

#include <cstdint>

#include "core/cache_view.h"

namespace kvc {

struct SizeFigures {
  double compression_ratio = 0;          // original / compressed
  double bandwidth_savings_percent = 0;  // 100 * (1 - compressed / original)
  double bits_per_element = 0;           // 8 * compressed / elements
};

// Figures of a cache of dims (keys and values together) stored in compressed_bytes; 0 where a
// divisor is 0.
inline SizeFigures size_figures(const CacheDims& dims, uint64_t compressed_bytes) {
  const uint64_t original_bytes = dims.total_bytes();
  const uint64_t elements = 2 * uint64_t{dims.num_layers} * dims.elements_per_tensor();
  SizeFigures f;
  const double original = static_cast<double>(original_bytes);
  const double compressed = static_cast<double>(compressed_bytes);
  if (compressed_bytes > 0) f.compression_ratio = original / compressed;
  if (original_bytes > 0) f.bandwidth_savings_percent = 100.0 * (1.0 - compressed / original);
  if (elements > 0) f.bits_per_element = 8.0 * compressed / static_cast<double>(elements);
  return f;
}

}  // namespace kvc
