// model_stats.cpp: running counts and averages of compress and decompress calls per model name.
#include "metrics/model_stats.h"

#include <algorithm>

namespace kvc {
namespace {

std::string_view cut_name(std::string_view name) {
  return name.substr(0, std::min(name.size(), ModelStats::kMaxNameBytes));
}

double mean(double total, uint64_t count) {
  return count == 0 ? 0.0 : total / static_cast<double>(count);
}

}  // namespace

double ModelTotals::mean_compress_ms() const { return mean(total_compress_ms, compress_calls); }
double ModelTotals::mean_decompress_ms() const {
  return mean(total_decompress_ms, decompress_calls);
}
double ModelTotals::compression_ratio() const {
  return compressed_bytes == 0
             ? 0.0
             : static_cast<double>(original_bytes) / static_cast<double>(compressed_bytes);
}
double ModelTotals::mean_savings_percent() const {
  return mean(total_savings_percent, compress_calls);
}
double ModelTotals::mean_attention_coverage() const {
  return coverage_samples == 0 ? -1.0 : mean(total_attention_coverage, coverage_samples);
}

ModelTotals& ModelStats::entry(std::string_view model_name) {
  const std::string_view name = cut_name(model_name);
  for (ModelTotals& m : models_) {
    if (m.model_name == name) return m;
  }
  ModelTotals m;
  m.model_name = std::string(name);
  models_.push_back(std::move(m));
  return models_.back();
}

void ModelStats::record_compress(std::string_view model_name, const CompressSample& s) {
  const std::lock_guard<std::mutex> lock(mutex_);
  ModelTotals& m = entry(model_name);
  ++m.compress_calls;
  m.original_bytes += s.original_bytes;
  m.compressed_bytes += s.compressed_bytes;
  m.tokens_total += s.tokens_total;
  m.tokens_kept += s.tokens_kept;
  m.total_compress_ms += s.compress_ms;
  m.total_savings_percent += s.savings_percent;
  if (s.attention_coverage >= 0) {
    ++m.coverage_samples;
    m.total_attention_coverage += s.attention_coverage;
  }
}

void ModelStats::record_decompress(std::string_view model_name, double elapsed_ms) {
  const std::lock_guard<std::mutex> lock(mutex_);
  ModelTotals& m = entry(model_name);
  ++m.decompress_calls;
  m.total_decompress_ms += elapsed_ms;
}

size_t ModelStats::model_count() const {
  const std::lock_guard<std::mutex> lock(mutex_);
  return models_.size();
}

std::optional<ModelTotals> ModelStats::get(std::string_view model_name) const {
  const std::string_view name = cut_name(model_name);
  const std::lock_guard<std::mutex> lock(mutex_);
  for (const ModelTotals& m : models_) {
    if (m.model_name == name) return m;
  }
  return std::nullopt;
}

std::optional<ModelTotals> ModelStats::get_index(size_t index) const {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (index >= models_.size()) return std::nullopt;
  return models_[index];
}

bool ModelStats::reset(std::optional<std::string_view> model_name) {
  const std::lock_guard<std::mutex> lock(mutex_);
  if (!model_name) {
    models_.clear();
    return true;
  }
  const std::string_view name = cut_name(*model_name);
  const auto it = std::find_if(models_.begin(), models_.end(),
                               [name](const ModelTotals& m) { return m.model_name == name; });
  if (it == models_.end()) return false;
  models_.erase(it);
  return true;
}

}  // namespace kvc
