// cache_codec.h: the whole-cache pipeline: compress a cache view into a .kvc blob, and decode a
// blob (all layers or a range) back into packed tensors.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "codecs/quant_groupwise.h"
#include "core/cache_view.h"
#include "eviction/queries.h"
#include "eviction/token_selection.h"

namespace kvc {

struct CompressSettings {
  int key_bits = 4;
  int value_bits = 4;
  uint32_t group_size = 64;
  uint32_t recent_tokens = 0;
  int zstd_level = 1;
  ShuffleMode shuffle = ShuffleMode::Auto;
  std::string model_name;  // recorded in the header; at most 63 bytes
  SelectionSettings selection;
};

// Throws Error(KVC_ERR_INVALID_ARGUMENT) naming the first field out of range.
void validate(const CompressSettings& s);

// Upper bound of the blob size for these settings and dimensions.
uint64_t compress_bound(const CompressSettings& s, const CacheDims& dims);

struct CompressResult {
  size_t blob_bytes = 0;  // bytes written, or needed when !fits
  bool fits = true;
  uint64_t tokens_kept = 0;  // summed over layers
  double coverage = -1.0;    // attention mass kept, mean over layers; -1 = not measured
};

struct DecodeRange {
  uint32_t first_layer = 0;
  uint32_t num_layers = 0;  // 0 = to the end
};

// The tokens one decoded layer holds.
struct KeptTokens {
  uint32_t count = 0;               // per head
  bool per_head = false;            // positions has a row per head
  std::vector<uint32_t> positions;  // empty: every token, in order

  // Head's row of positions (only when positions is not empty).
  const uint32_t* row(uint32_t head) const {
    return positions.data() + (per_head ? uint64_t{head} * count : 0);
  }
};

// Writes the [layer][head][token] mask of kept (1 = kept) for caches of dims into out.
void fill_kept_mask(const std::vector<KeptTokens>& kept, const CacheDims& dims, uint8_t* out);

// Reusable encoder/decoder state of one context (scratch buffers, zstd contexts).
class CacheCodec {
 public:
  explicit CacheCodec(const Backend& backend);
  ~CacheCodec();
  CacheCodec(const CacheCodec&) = delete;
  CacheCodec& operator=(const CacheCodec&) = delete;

  // Called after each chunk encoded or decoded: (chunks done, chunks in the call).
  using Progress = std::function<void(uint64_t done, uint64_t total)>;
  void set_progress(Progress progress);
  const Progress& progress() const;  // empty when none is set

  // queries: nullptr, or checked to fit the cache (check_queries_fit).
  CompressResult compress(const CacheView& cache, const CompressSettings& settings,
                          const QueryView* queries, unsigned char* dst, size_t capacity);

  // Decodes layers [first, first+count) of a blob into packed [layer][head][token][dim] buffers
  // of output_dtype: each layer's kept tokens, or with scatter the original length with zeros
  // where tokens were evicted. Checks capacity first; returns the bytes each buffer needs.
  struct DecodeResult {
    uint64_t tensor_bytes = 0;
    bool fits = true;
    std::string model_name;  // from the header
  };
  DecodeResult decompress(const void* blob, size_t blob_bytes, const DecodeRange& range,
                          int output_dtype /* kvc_dtype or KVC_DTYPE_AS_STORED */, bool scatter,
                          void* keys, void* values, size_t capacity);

  // The tokens each layer of the range keeps (chunk messages and key payloads are verified).
  std::vector<KeptTokens> kept_tokens(const void* blob, size_t blob_bytes, const DecodeRange& range,
                                      CacheDims* out_dims);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace kvc
