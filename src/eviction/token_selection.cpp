// token_selection.cpp: which tokens of a layer to keep: attention mass with queries, key norm or
// recency without, always the sinks and the recent window, within a sliding window.
#include "eviction/token_selection.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/error.h"
#include "eviction/attention_mass.h"

namespace kvc {
namespace {

// Orders one head's (or the shared) candidate tokens: forced tokens first (newest first), then
// the others by descending score (ties: newer first); returns how many of that order to keep.
struct Ranking {
  std::vector<uint32_t> order;
  uint32_t forced = 0;
};

Ranking rank(const std::vector<double>& score, uint32_t tokens, const SelectionSettings& s) {
  const uint32_t window_begin =
      s.sliding_window > 0 && s.sliding_window < tokens ? tokens - s.sliding_window : 0;
  Ranking r;
  std::vector<uint32_t> rest;
  for (uint32_t t = tokens; t-- > window_begin;) {
    const bool forced = t < s.sink_tokens || tokens - t <= s.keep_recent;
    (forced ? r.order : rest).push_back(t);
  }
  r.forced = static_cast<uint32_t>(r.order.size());
  // Newest-first input keeps the sort stable towards newer tokens on ties.
  std::stable_sort(rest.begin(), rest.end(),
                   [&](uint32_t a, uint32_t b) { return score[a] > score[b]; });
  r.order.insert(r.order.end(), rest.begin(), rest.end());
  return r;
}

// Tokens of the ranking the policy wants before min/max clamping.
uint32_t wanted(const Ranking& r, const std::vector<double>& mass, const SelectionSettings& s) {
  const auto available = static_cast<uint32_t>(r.order.size());
  switch (s.policy) {
    case SelectionPolicy::None:
      return available;
    case SelectionPolicy::Attention: {
      double covered = 0.0;
      uint32_t n = 0;
      for (; n < available; ++n) {
        if (n >= r.forced && covered >= s.attention_threshold) break;
        covered += mass[r.order[n]];
      }
      return n;
    }
    case SelectionPolicy::KeyNorm:
    case SelectionPolicy::Recency: {
      const auto n = static_cast<uint32_t>(std::ceil(double{s.keep_ratio} * available - 1e-9));
      return std::max(n, r.forced);
    }
  }
  return available;
}

uint32_t clamp_count(uint32_t n, uint32_t available, const SelectionSettings& s) {
  if (s.policy != SelectionPolicy::None) {
    n = std::max(n, std::min(s.min_tokens, available));
    if (s.max_tokens > 0) n = std::min(n, s.max_tokens);
  }
  return std::clamp<uint32_t>(n, 1, available);
}

double kept_mass(const std::vector<double>& mass, const uint32_t* kept, uint32_t n) {
  double sum = 0.0;
  for (uint32_t i = 0; i < n; ++i) sum += mass[kept[i]];
  return sum;
}

// Per-token score of one head (or all heads, head = UINT32_MAX) for the query-free policies.
std::vector<double> key_scores(const TensorView& keys, const CacheDims& d,
                               const SelectionSettings& s, uint32_t head) {
  std::vector<double> score(d.num_tokens, 0.0);
  if (s.policy == SelectionPolicy::Recency) {
    for (uint32_t t = 0; t < d.num_tokens; ++t) score[t] = t;
    return score;
  }
  if (s.policy != SelectionPolicy::KeyNorm) return score;
  const uint32_t first = head == UINT32_MAX ? 0 : head;
  const uint32_t last = head == UINT32_MAX ? d.num_kv_heads : head + 1;
  for (uint32_t h = first; h < last; ++h) {
    for (uint32_t t = 0; t < d.num_tokens; ++t) {
      const unsigned char* row = keys.row(h, t);
      double sq = 0.0;
      for (uint32_t i = 0; i < d.head_dim; ++i) {
        const double v = load_as_f32(row, keys.dtype, i);
        sq += v * v;
      }
      score[t] += std::sqrt(sq);
    }
  }
  for (double v : score) require(std::isfinite(v), "keys hold a NaN or infinity: key norms fail");
  return score;
}

}  // namespace

void validate(const SelectionSettings& s) {
  const auto policy = static_cast<int32_t>(s.policy);
  require(policy >= 0 && policy <= 3,
          "selection " + std::to_string(policy) +
              " is not KVC_SELECT_NONE, _ATTENTION, _KEY_NORM or _RECENCY");
  require(s.attention_threshold > 0.0f && s.attention_threshold <= 1.0f,
          "attention_threshold " + std::to_string(s.attention_threshold) + " is not in (0, 1]");
  require(s.keep_ratio > 0.0f && s.keep_ratio <= 1.0f,
          "keep_ratio " + std::to_string(s.keep_ratio) + " is not in (0, 1]");
  require(s.max_tokens == 0 || s.min_tokens <= s.max_tokens,
          "min_tokens " + std::to_string(s.min_tokens) + " is greater than max_tokens " +
              std::to_string(s.max_tokens));
}

LayerSelection select_tokens(const TensorView& keys, const CacheDims& d, const SelectionSettings& s,
                             const QueryLayer* queries) {
  require(s.policy != SelectionPolicy::Attention || queries != nullptr,
          "selection KVC_SELECT_ATTENTION needs queries");
  const uint32_t tokens = d.num_tokens;
  const uint32_t heads = d.num_kv_heads;
  std::vector<double> mass;  // [heads][tokens], or empty without queries
  if (queries != nullptr) {
    mass = attention_mass(keys, heads, tokens, d.head_dim, *queries);
    for (double v : mass) require(std::isfinite(v), "keys or queries hold a NaN or infinity");
  }
  LayerSelection sel;
  sel.per_head = s.per_head && heads > 1;
  const uint32_t rows = sel.per_head ? heads : 1;
  std::vector<std::vector<double>> row_mass(rows), row_score(rows);
  std::vector<Ranking> rankings(rows);
  uint32_t count = 0;
  for (uint32_t r = 0; r < rows; ++r) {
    if (!mass.empty()) {
      if (sel.per_head) {
        row_mass[r].assign(mass.begin() + uint64_t{r} * tokens,
                           mass.begin() + uint64_t{r + 1} * tokens);
      } else {
        row_mass[r].assign(tokens, 0.0);
        for (uint32_t h = 0; h < heads; ++h) {
          for (uint32_t t = 0; t < tokens; ++t) row_mass[r][t] += mass[uint64_t{h} * tokens + t];
        }
        for (double& v : row_mass[r]) v /= heads;
      }
    }
    row_score[r] = s.policy == SelectionPolicy::Attention
                       ? row_mass[r]
                       : key_scores(keys, d, s, sel.per_head ? r : UINT32_MAX);
    rankings[r] = rank(row_score[r], tokens, s);
    count = std::max(count, wanted(rankings[r], row_mass[r], s));
  }
  const auto available = static_cast<uint32_t>(rankings[0].order.size());
  sel.count = clamp_count(count, available, s);
  sel.positions.resize(uint64_t{rows} * sel.count);
  double coverage = 0.0;
  for (uint32_t r = 0; r < rows; ++r) {
    uint32_t* kept = sel.positions.data() + uint64_t{r} * sel.count;
    std::copy_n(rankings[r].order.begin(), sel.count, kept);
    std::sort(kept, kept + sel.count);
    if (!mass.empty()) coverage += kept_mass(row_mass[r], kept, sel.count);
  }
  if (!mass.empty()) {
    sel.coverage = coverage / rows;
  } else if (sel.count == tokens) {
    sel.coverage = 1.0;
  }
  return sel;
}

}  // namespace kvc
