// token_selection.h: which tokens of a layer to keep: attention mass with queries, key norm or
// recency without, always the sinks and the recent window, within a sliding window.
#pragma once

#include <cstdint>
#include <vector>

#include "core/cache_view.h"
#include "eviction/queries.h"

namespace kvc {

// Numbered as KVC_SELECT_* in kvc.h.
enum class SelectionPolicy : int32_t { None = 0, Attention = 1, KeyNorm = 2, Recency = 3 };

struct SelectionSettings {
  SelectionPolicy policy = SelectionPolicy::None;
  float attention_threshold = 0.9f;  // (0, 1]
  float keep_ratio = 0.5f;           // (0, 1]
  uint32_t min_tokens = 0;
  uint32_t max_tokens = 0;  // 0 = no limit
  uint32_t sink_tokens = 4;
  uint32_t keep_recent = 32;
  uint32_t sliding_window = 0;  // 0 = none
  bool per_head = false;

  // Whether any token can be dropped (a policy other than None, or a sliding window).
  bool active() const { return policy != SelectionPolicy::None || sliding_window > 0; }
};

// Throws Error(KVC_ERR_INVALID_ARGUMENT) naming the first field out of range.
void validate(const SelectionSettings& s);

// The tokens one layer keeps.
struct LayerSelection {
  uint32_t count = 0;               // tokens kept by each head
  bool per_head = false;            // positions holds a row per head, else one shared row
  std::vector<uint32_t> positions;  // ascending; count, or heads * count entries
  double coverage = -1.0;           // attention mass kept (mean over heads); -1 = not measured

  const uint32_t* row(uint32_t head) const {
    return positions.data() + (per_head ? uint64_t{head} * count : 0);
  }
};

// Selects the tokens of one layer from its keys ([heads][tokens][head_dim]) and, when present,
// its queries (required by SelectionPolicy::Attention; otherwise used only to measure coverage).
LayerSelection select_tokens(const TensorView& keys, const CacheDims& dims,
                             const SelectionSettings& settings, const QueryLayer* queries);

}  // namespace kvc
