// model_stats.h: running counts and averages of compress and decompress calls per model name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvc {

// One compress call as the statistics see it.
struct CompressSample {
  uint64_t original_bytes = 0;
  uint64_t compressed_bytes = 0;
  uint64_t tokens_total = 0;
  uint64_t tokens_kept = 0;
  double compress_ms = 0;
  double savings_percent = 0;
  double attention_coverage = -1;  // < 0: not measured
};

// The figures of one model: sums, from which the means are derived.
struct ModelTotals {
  std::string model_name;
  uint64_t compress_calls = 0;
  uint64_t decompress_calls = 0;
  uint64_t original_bytes = 0;
  uint64_t compressed_bytes = 0;
  uint64_t tokens_total = 0;
  uint64_t tokens_kept = 0;
  uint64_t coverage_samples = 0;
  double total_compress_ms = 0;
  double total_decompress_ms = 0;
  double total_savings_percent = 0;
  double total_attention_coverage = 0;

  double mean_compress_ms() const;
  double mean_decompress_ms() const;
  double compression_ratio() const;  // 0 before any compress call
  double mean_savings_percent() const;
  double mean_attention_coverage() const;  // -1 without coverage samples
};

// Thread-safe: every member takes one mutex. Models keep the order they were first seen in; a
// reset forgets a model (it comes back, last, with its next record).
class ModelStats {
 public:
  static constexpr size_t kMaxNameBytes = 63;

  // Names longer than kMaxNameBytes are cut to it (as the blob header's model_name is).
  void record_compress(std::string_view model_name, const CompressSample& sample);
  void record_decompress(std::string_view model_name, double elapsed_ms);

  size_t model_count() const;
  std::optional<ModelTotals> get(std::string_view model_name) const;
  std::optional<ModelTotals> get_index(size_t index) const;
  // Forgets one model (false when it has no record), or every model with nullopt.
  bool reset(std::optional<std::string_view> model_name);

 private:
  ModelTotals& entry(std::string_view model_name);  // the caller holds mutex_
  mutable std::mutex mutex_;
  std::vector<ModelTotals> models_;
};

}  // namespace kvc
