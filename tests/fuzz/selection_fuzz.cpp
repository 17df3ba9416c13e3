// selection_fuzz.cpp: libFuzzer target: a small cache, queries and token-selection params from the
// input, compressed and back; the kept tokens obey the policy's bounds and decode consistently.
#include <kvc/kvc.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../sized_buffers.h"
#include "fuzz_common.h"

namespace {

constexpr size_t kControlBytes = 20;  // bytes that pick the shape and params; the rest is data

// Whether selection or a lossy stage may refuse these elements: a NaN or an infinity, or a
// magnitude whose attention logits or group range could leave float32.
bool may_be_refused(const std::vector<unsigned char>& data, kvc_dtype dtype) {
  const size_t elem = kvc_fuzz::dtype_bytes(dtype);
  for (size_t i = 0; i + elem <= data.size(); i += elem) {
    if (!kvc_fuzz::is_finite(&data[i], dtype)) return true;
    if (std::fabs(kvc_fuzz::to_float(&data[i], dtype)) >= 1e18f) return true;
  }
  return false;
}

struct Case {
  kvc_cache_shape shape;
  kvc_compress_params params;
  kvc_query_shape query_shape;
  std::vector<unsigned char> keys, values, queries;
};

Case draw(const uint8_t* data, size_t size) {
  static const int kBits[] = {2, 3, 4, 8, 16};
  static const int kGroups[] = {32, 64, 128};
  kvc_fuzz::Controls c(data, size);
  Case k;
  kvc_cache_shape& s = k.shape;
  kvc_cache_shape_default(&s, sizeof s);
  s.num_layers = 1 + c.next(2);
  s.num_kv_heads = 1 + c.next(3);
  s.num_tokens = 1 + c.next(96);
  s.head_dim = 1 + c.next(80);
  s.dtype = static_cast<kvc_dtype>(c.next(3));
  s.token_stride = s.head_dim;
  s.head_stride = s.token_stride * s.num_tokens;
  s.layer_stride = s.head_stride * s.num_kv_heads;

  kvc_compress_params& p = k.params;
  kvc_compress_params_default(&p, sizeof p);
  p.key_bits = kBits[c.next(5)];
  p.value_bits = kBits[c.next(5)];
  p.group_size = kGroups[c.next(3)];
  p.recent_full_precision_tokens = static_cast<int32_t>(c.next(40));
  p.selection = static_cast<int32_t>(c.next(4));
  p.attention_threshold = static_cast<float>(1 + c.next(100)) / 100.0f;
  p.keep_ratio = static_cast<float>(1 + c.next(100)) / 100.0f;
  p.min_tokens = c.next(20);
  p.max_tokens = c.next(40);  // 0: no limit
  if (p.max_tokens > 0 && p.max_tokens < p.min_tokens) std::swap(p.min_tokens, p.max_tokens);
  p.sink_tokens = c.next(8);
  p.recent_always_kept_tokens = c.next(40);
  const uint32_t window = c.next(200);
  p.sliding_window = window < 100 ? 0 : window - 100;
  p.per_head = static_cast<int32_t>(c.next(2));

  kvc_query_shape& q = k.query_shape;
  kvc_query_shape_default(&q, sizeof q);
  q.num_query_heads = s.num_kv_heads * (1 + c.next(3));
  const uint32_t queries = c.next(16);
  q.num_queries = 1 + queries % 8;
  q.per_layer = queries / 8;
  q.head_dim = s.head_dim;
  q.dtype = s.dtype;

  // Keys, values and queries are the rest of the input, repeated (zeros if none).
  const size_t elem = kvc_fuzz::dtype_bytes(s.dtype);
  const size_t tensor_bytes = size_t{s.layer_stride} * s.num_layers * elem;
  const size_t query_bytes = size_t{q.per_layer ? s.num_layers : 1} * q.num_query_heads *
                             q.num_queries * q.head_dim * elem;
  const uint8_t* payload = data + std::min(size, kControlBytes);
  const size_t payload_size = size - std::min(size, kControlBytes);
  k.keys.resize(tensor_bytes);
  k.values.resize(tensor_bytes);
  k.queries.resize(query_bytes);
  for (size_t i = 0; payload_size > 0 && i < tensor_bytes; ++i) {
    k.keys[i] = payload[i % payload_size];
    k.values[i] = payload[(i + tensor_bytes) % payload_size];
  }
  for (size_t i = 0; payload_size > 0 && i < query_bytes; ++i) {
    k.queries[i] = payload[(i + 2 * tensor_bytes) % payload_size];
  }
  return k;
}

// The kept positions of one layer and head obey the policy's bounds.
void check_positions(const Case& k, const uint32_t* kept, uint32_t count) {
  const kvc_compress_params& p = k.params;
  const uint32_t tokens = k.shape.num_tokens;
  const uint32_t window_begin =
      p.sliding_window > 0 && p.sliding_window < tokens ? tokens - p.sliding_window : 0;
  const uint32_t available = tokens - window_begin;
  kvc_fuzz::expect(count >= 1 && count <= available, "kept count outside [1, window tokens]");
  for (uint32_t i = 0; i < count; ++i) {
    kvc_fuzz::expect(kept[i] >= window_begin && kept[i] < tokens,
                     "a kept position lies outside the sliding window");
    kvc_fuzz::expect(i == 0 || kept[i - 1] < kept[i], "kept positions are not ascending");
  }
  if (p.selection == KVC_SELECT_NONE) {
    kvc_fuzz::expect(count == available, "KVC_SELECT_NONE dropped a token inside the window");
    return;
  }
  if (p.max_tokens > 0) kvc_fuzz::expect(count <= p.max_tokens, "more tokens kept than max_tokens");
  const uint32_t floor = std::min(p.min_tokens, available);
  if (p.max_tokens == 0 || p.max_tokens >= floor) {
    kvc_fuzz::expect(count >= floor, "fewer tokens kept than min_tokens");
  }
  // Without a max_tokens limit every forced token (sink or recent) in the window is kept.
  std::vector<bool> is_kept(tokens, false);
  for (uint32_t i = 0; i < count; ++i) is_kept[kept[i]] = true;
  for (uint32_t t = window_begin; p.max_tokens == 0 && t < tokens; ++t) {
    const bool forced = t < p.sink_tokens || tokens - t <= p.recent_always_kept_tokens;
    kvc_fuzz::expect(!forced || is_kept[t], "a sink or recent token was dropped");
  }
  if (p.selection == KVC_SELECT_RECENCY) {  // every kept non-sink is newer than any dropped one
    uint32_t oldest_kept = tokens, newest_dropped = 0;
    bool dropped_any = false;
    for (uint32_t t = std::max(window_begin, p.sink_tokens); t < tokens; ++t) {
      if (is_kept[t]) {
        oldest_kept = std::min(oldest_kept, t);
      } else {
        newest_dropped = t;
        dropped_any = true;
      }
    }
    kvc_fuzz::expect(!dropped_any || oldest_kept == tokens || newest_dropped < oldest_kept,
                     "KVC_SELECT_RECENCY kept an older token and dropped a newer one");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Case k = draw(data, size);
  const kvc_cache_shape& s = k.shape;
  const kvc_compress_params& p = k.params;
  kvc_context* ctx = kvc_fuzz::context();
  const size_t bound = kvc_compress_bound(&p, &s);
  kvc_fuzz::expect(bound > 0, "kvc_compress_bound rejects a valid shape and selection");
  std::vector<unsigned char> blob(bound);
  size_t blob_bytes = 0;
  kvc_metrics metrics;
  metrics.struct_size = sizeof metrics;
  kvc_status status = kvc_compress_with_queries(
      ctx, &p, &s, k.keys.data(), kvc_sized::nbytes(k.keys), k.values.data(),
      kvc_sized::nbytes(k.values), &k.query_shape, k.queries.data(), kvc_sized::nbytes(k.queries),
      blob.data(), blob.size(), &blob_bytes, &metrics);
  kvc_fuzz::check_status(status, "kvc_compress_with_queries", ctx);
  if (status != KVC_OK) {
    kvc_fuzz::expect(status == KVC_ERR_INVALID_ARGUMENT &&
                         (may_be_refused(k.keys, s.dtype) || may_be_refused(k.values, s.dtype) ||
                          may_be_refused(k.queries, s.dtype)),
                     "kvc_compress_with_queries failed on finite input of moderate size");
    return 0;
  }
  kvc_fuzz::expect(blob_bytes <= bound, "kvc_compress_with_queries wrote past its bound");
  std::vector<unsigned char> again(bound);
  size_t again_bytes = 0;
  status = kvc_compress_with_queries(ctx, &p, &s, k.keys.data(), kvc_sized::nbytes(k.keys),
                                     k.values.data(), kvc_sized::nbytes(k.values), &k.query_shape,
                                     k.queries.data(), kvc_sized::nbytes(k.queries), again.data(),
                                     again.size(), &again_bytes, nullptr);
  kvc_fuzz::expect(status == KVC_OK && again_bytes == blob_bytes &&
                       std::memcmp(again.data(), blob.data(), blob_bytes) == 0,
                   "the same input compressed to different bytes");

  status = kvc_verify(ctx, blob.data(), blob_bytes);
  kvc_fuzz::expect(status == KVC_OK, "a fresh blob fails verification");
  kvc_blob_info info;
  info.struct_size = sizeof info;
  status = kvc_inspect(ctx, blob.data(), blob_bytes, &info);
  kvc_fuzz::expect(status == KVC_OK && info.tokens_kept == metrics.tokens_kept,
                   "kvc_inspect disagrees with the metrics on the tokens kept");

  // Positions: [layer][kv_head][kept_l].
  std::vector<uint32_t> counts(s.num_layers);
  std::vector<uint32_t> positions(size_t{s.num_layers} * s.num_kv_heads * s.num_tokens);
  size_t positions_count = 0;
  status = kvc_decompress_positions(ctx, nullptr, blob.data(), blob_bytes, counts.data(),
                                    kvc_sized::nbytes(counts), positions.data(), positions.size(),
                                    &positions_count);
  kvc_fuzz::expect(status == KVC_OK, "kvc_decompress_positions fails on a fresh blob");
  uint64_t kept_total = 0;
  size_t at = 0;
  for (uint32_t l = 0; l < s.num_layers; ++l) {
    for (uint32_t h = 0; h < s.num_kv_heads; ++h) {
      check_positions(k, &positions[at], counts[l]);
      if (!p.per_head) {
        kvc_fuzz::expect(h == 0 || std::equal(&positions[at], &positions[at] + counts[l],
                                              &positions[at - counts[l]]),
                         "heads of a shared selection kept different tokens");
      }
      at += counts[l];
    }
    kept_total += counts[l];
  }
  kvc_fuzz::expect(positions_count == at && kept_total == metrics.tokens_kept,
                   "positions and counts disagree with the metrics");
  const uint32_t window_tokens =
      p.sliding_window > 0 && p.sliding_window < s.num_tokens ? p.sliding_window : s.num_tokens;
  if (p.selection == KVC_SELECT_ATTENTION && p.max_tokens == 0 && window_tokens == s.num_tokens) {
    kvc_fuzz::expect(metrics.attention_coverage >= p.attention_threshold - 1e-6,
                     "the kept tokens cover less attention mass than the threshold");
  }

  // Kept tokens only (scatter 0), then the original length (scatter 1) with zeros where evicted.
  const size_t elem = kvc_fuzz::dtype_bytes(s.dtype);
  const size_t row_bytes = size_t{s.head_dim} * elem;
  const size_t kept_bytes = size_t{kept_total} * s.num_kv_heads * row_bytes;
  std::vector<unsigned char> kept_keys(kept_bytes), kept_values(kept_bytes);
  size_t written = 0;
  status = kvc_decompress(ctx, nullptr, blob.data(), blob_bytes, kept_keys.data(),
                          kept_values.data(), kept_bytes, &written);
  kvc_fuzz::expect(status == KVC_OK && written == kept_bytes, "a fresh blob fails to decode");
  kvc_decompress_params scatter;
  kvc_decompress_params_default(&scatter, sizeof scatter);
  scatter.scatter = 1;
  const size_t full_bytes = size_t{s.num_layers} * s.num_kv_heads * s.num_tokens * row_bytes;
  std::vector<unsigned char> full_keys(full_bytes), full_values(full_bytes);
  status = kvc_decompress(ctx, &scatter, blob.data(), blob_bytes, full_keys.data(),
                          full_values.data(), full_bytes, &written);
  kvc_fuzz::expect(status == KVC_OK && written == full_bytes, "a fresh blob fails to scatter");
  std::vector<uint8_t> mask(size_t{s.num_layers} * s.num_kv_heads * s.num_tokens);
  size_t mask_bytes = 0;
  status = kvc_decompress_mask(ctx, nullptr, blob.data(), blob_bytes, mask.data(), mask.size(),
                               &mask_bytes);
  kvc_fuzz::expect(status == KVC_OK && mask_bytes == mask.size(), "kvc_decompress_mask fails");

  const std::vector<unsigned char> zeros(row_bytes, 0);
  size_t kept_row = 0;
  at = 0;
  for (uint32_t l = 0; l < s.num_layers; ++l) {
    for (uint32_t h = 0; h < s.num_kv_heads; ++h) {
      const size_t first = at;
      at += counts[l];
      for (uint32_t t = 0; t < s.num_tokens; ++t) {
        const size_t cell = (size_t{l} * s.num_kv_heads + h) * s.num_tokens + t;
        const bool is_kept = std::binary_search(&positions[first], &positions[at], t);
        kvc_fuzz::expect(mask[cell] == (is_kept ? 1 : 0), "the mask disagrees with the positions");
        const unsigned char* full_key = &full_keys[cell * row_bytes];
        const unsigned char* full_value = &full_values[cell * row_bytes];
        if (!is_kept) {
          kvc_fuzz::expect(std::memcmp(full_key, zeros.data(), row_bytes) == 0 &&
                               std::memcmp(full_value, zeros.data(), row_bytes) == 0,
                           "an evicted token does not scatter to zeros");
          continue;
        }
        const unsigned char* key = &kept_keys[kept_row * row_bytes];
        const unsigned char* value = &kept_values[kept_row * row_bytes];
        ++kept_row;
        kvc_fuzz::expect(std::memcmp(full_key, key, row_bytes) == 0 &&
                             std::memcmp(full_value, value, row_bytes) == 0,
                         "a kept token scatters to other bytes than it decodes to");
        const size_t src =
            (size_t{l} * s.layer_stride + size_t{h} * s.head_stride + size_t{t} * s.token_stride) *
            elem;
        if (p.key_bits == 16) {
          kvc_fuzz::expect(std::memcmp(&k.keys[src], key, row_bytes) == 0,
                           "a lossless kept key changed");
        }
        if (p.value_bits == 16) {
          kvc_fuzz::expect(std::memcmp(&k.values[src], value, row_bytes) == 0,
                           "a lossless kept value changed");
        }
        for (size_t i = 0; i < row_bytes; i += elem) {
          kvc_fuzz::expect(!kvc_fuzz::is_finite(&k.keys[src + i], s.dtype) ||
                               kvc_fuzz::is_finite(key + i, s.dtype),
                           "a finite kept key decoded as non-finite");
          kvc_fuzz::expect(!kvc_fuzz::is_finite(&k.values[src + i], s.dtype) ||
                               kvc_fuzz::is_finite(value + i, s.dtype),
                           "a finite kept value decoded as non-finite");
        }
      }
    }
  }
  return 0;
}
