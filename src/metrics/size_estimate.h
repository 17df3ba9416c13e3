// size_estimate.h: predicts the size of a .kvc blob, and the tokens selection keeps, from the
// shape and settings alone (no data is read).
#pragma once

#include <cstdint>

#include "codecs/cache_codec.h"
#include "core/cache_view.h"

namespace kvc {

// The token selection fields of kvc_compress_params that decide how many tokens are kept;
// policy is a KVC_SELECT_* value.
struct SelectionBudget {
  int policy = 0;
  float keep_ratio = 0.5f;
  uint32_t min_tokens = 0;
  uint32_t max_tokens = 0;  // 0 = no limit
  uint32_t sink_tokens = 4;
  uint32_t keep_recent = 32;
  uint32_t sliding_window = 0;  // 0 = none
  bool per_head = false;        // positions are stored per kv head

  bool active() const { return policy != 0 || sliding_window > 0; }
};

struct KeptTokens {
  uint32_t count = 0;    // per layer
  bool is_exact = true;  // false: an upper bound (attention selection depends on the queries)
};

// Tokens each layer keeps out of tokens, counted as eviction/token_selection.cpp selects them:
// the sliding window first (available tokens); NONE keeps them all; KEY_NORM and RECENCY keep
// ceil(keep_ratio * available), at least the forced tokens (sinks and the keep_recent window
// inside the sliding window); then at least min_tokens and at most max_tokens, 1..available.
// ATTENTION keeps what the queries decide: the count is then the most it can be.
KeptTokens kept_token_count(const SelectionBudget& selection, uint32_t tokens);

struct SizeEstimate {
  uint64_t payload_bytes = 0;   // the sections after the entropy stage
  uint64_t overhead_bytes = 0;  // preamble, header, chunk messages, footer, trailer
  uint64_t blob_bytes = 0;
};

// Predicted blob size for dims whose layers each keep kept_tokens tokens (dims.num_tokens when
// nothing is evicted). Quantized sections are sized exactly (expected_sections), then scaled by
// the entropy factor measured for their kind and bits; see size_estimate.cpp for the figures.
// With selection active, every chunk also lists the kept positions (4 bytes each, per head when
// selection.per_head).
SizeEstimate estimate_blob_size(const CompressSettings& settings, const SelectionBudget& selection,
                                const CacheDims& dims, uint32_t kept_tokens);

}  // namespace kvc
