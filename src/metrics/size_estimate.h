// size_estimate.h: predicts the size of a .kvc blob, and the tokens selection keeps, from the
// shape and settings alone (no data is read).
#pragma once

#include <cstdint>

#include "codecs/cache_codec.h"
#include "core/cache_view.h"
#include "eviction/token_selection.h"

namespace kvc {

struct KeptTokenCount {
  uint32_t count = 0;    // per layer
  bool is_exact = true;  // false: an upper bound (attention selection depends on the queries)
};

// Tokens each layer keeps out of tokens, counted as eviction/token_selection.cpp selects them:
// the sliding window first (available tokens); NONE keeps them all; KEY_NORM and RECENCY keep
// ceil(keep_ratio * available), at least the forced tokens (sinks and the keep_recent window
// inside the sliding window); then at least min_tokens and at most max_tokens, 1..available.
// ATTENTION keeps what the queries decide: the count is then the most it can be.
KeptTokenCount kept_token_count(const SelectionSettings& selection, uint32_t tokens);

struct SizeEstimate {
  uint64_t payload_bytes = 0;   // the sections after the entropy stage
  uint64_t overhead_bytes = 0;  // preamble, header, chunk messages, footer, trailer
  uint64_t blob_bytes = 0;
};

// Predicted blob size for dims whose layers each keep kept_tokens tokens (dims.num_tokens when
// nothing is evicted). Quantized sections are sized exactly (expected_sections), then scaled by
// the entropy factor measured for their kind and bits; see size_estimate.cpp for the figures.
// When tokens are evicted, every chunk also lists the kept positions (4 bytes each, a row per head
// when settings.selection.per_head).
SizeEstimate estimate_blob_size(const CompressSettings& settings, const CacheDims& dims,
                                uint32_t kept_tokens);

}  // namespace kvc
