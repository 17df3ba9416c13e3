// api_helpers.h: C API test helpers built on <kvc/kvc.h> alone: contexts, caches, round trips.
#pragma once

#include <gtest/gtest.h>
#include <kvc/kvc.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "../sized_buffers.h"
#include "unit/test_data.h"

namespace kvc_api_test {

// A context for one test; fails the test when it cannot be created.
class Context {
 public:
  Context() { EXPECT_EQ(kvc_context_create(nullptr, &ctx_, nullptr, 0), KVC_OK); }
  ~Context() { kvc_context_free(ctx_); }
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  operator kvc_context*() const { return ctx_; }
  std::string error() const { return kvc_context_last_error(ctx_); }

 private:
  kvc_context* ctx_ = nullptr;
};

inline kvc_compress_params params(int key_bits = 4, int value_bits = 4, int group_size = 64,
                                  int recent_tokens = 0) {
  kvc_compress_params p;
  EXPECT_EQ(kvc_compress_params_default(&p, sizeof p), KVC_OK);
  p.key_bits = key_bits;
  p.value_bits = value_bits;
  p.group_size = group_size;
  p.recent_full_precision_tokens = recent_tokens;
  return p;
}

inline kvc_cache_shape shape(uint32_t layers, uint32_t heads, uint32_t tokens, uint32_t head_dim,
                             kvc_dtype dtype = KVC_DTYPE_F16) {
  kvc_cache_shape s;
  EXPECT_EQ(kvc_cache_shape_default(&s, sizeof s), KVC_OK);
  s.num_layers = layers;
  s.num_kv_heads = heads;
  s.num_tokens = tokens;
  s.head_dim = head_dim;
  s.dtype = dtype;
  return s;
}

// A packed cache: shape plus keys and values [layer][head][token][dim].
struct Cache {
  kvc_cache_shape shape{};
  std::vector<unsigned char> keys, values;

  size_t elements() const {
    return size_t{shape.num_layers} * shape.num_kv_heads * shape.num_tokens * shape.head_dim;
  }
};

inline Cache gaussian_cache(uint32_t layers, uint32_t heads, uint32_t tokens, uint32_t head_dim,
                            kvc_dtype dtype = KVC_DTYPE_F16, uint32_t seed = 1) {
  const kvc_test::FloatCache f =
      kvc_test::make_gaussian_cache(layers, heads, tokens, head_dim, seed);
  Cache c;
  c.shape = shape(layers, heads, tokens, head_dim, dtype);
  c.keys = kvc_test::encode(f.keys, dtype);
  c.values = kvc_test::encode(f.values, dtype);
  return c;
}

// Compresses through kvc_compress into a buffer of kvc_compress_bound() bytes.
inline std::vector<unsigned char> compress(kvc_context* ctx, const kvc_compress_params& p,
                                           const Cache& c, kvc_metrics* metrics = nullptr) {
  std::vector<unsigned char> blob(kvc_compress_bound(&p, &c.shape));
  EXPECT_GT(blob.size(), 0u);
  size_t size = 0;
  const kvc_status st =
      kvc_compress(ctx, &p, &c.shape, c.keys.data(), kvc_sized::nbytes(c.keys), c.values.data(),
                   kvc_sized::nbytes(c.values), blob.data(), blob.size(), &size, metrics);
  EXPECT_EQ(st, KVC_OK) << kvc_context_last_error(ctx);
  blob.resize(st == KVC_OK ? size : 0);
  return blob;
}

struct Decoded {
  std::vector<unsigned char> keys, values;
};

// Decodes layers [first, first + count) (count 0: all that follow) into dtype.
inline Decoded decompress(kvc_context* ctx, const std::vector<unsigned char>& blob,
                          kvc_dtype dtype = KVC_DTYPE_AS_STORED, uint32_t first = 0,
                          uint32_t count = 0) {
  kvc_decompress_params p;
  EXPECT_EQ(kvc_decompress_params_default(&p, sizeof p), KVC_OK);
  p.dtype = dtype;
  p.first_layer = first;
  p.num_layers = count;
  size_t needed = 0;
  EXPECT_EQ(kvc_decompress(ctx, &p, blob.data(), blob.size(), nullptr, nullptr, 0, &needed),
            KVC_ERR_BUFFER_TOO_SMALL);
  Decoded d;
  d.keys.resize(needed);
  d.values.resize(needed);
  size_t written = 0;
  EXPECT_EQ(kvc_decompress(ctx, &p, blob.data(), blob.size(), d.keys.data(), d.values.data(),
                           needed, &written),
            KVC_OK)
      << kvc_context_last_error(ctx);
  EXPECT_EQ(written, needed);
  return d;
}

// Whether text contains part; for EXPECT_TRUE with the text in the failure message.
inline ::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "\"" << text << "\" lacks \"" << part << "\"";
}

}  // namespace kvc_api_test
