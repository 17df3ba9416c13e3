// memory_bound_test.cpp: decoding allocates at most the declared output plus twice the input plus
// a small constant, and blobs declaring huge sizes ("bombs") fail without allocating them.
#include <gtest/gtest.h>
#include <kvc/kvc_tools.h>
#include <zstd.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "api/api_helpers.h"
#include "reliability/alloc_counter.h"
#include "reliability/reliability_helpers.h"

namespace {

using kvc_api_test::Context;
using kvc_reliability::hand_made_blob;

constexpr uint64_t kConstantBytes = 64 * 1024;  // messages, index and bookkeeping

using kvc_reliability::measure;
using kvc_reliability::Measured;

double g_largest_amplification = 0;

// Checks the bound for one call and records peak / (output + input).
void expect_within_bound(const char* what, const Measured& m, uint64_t output, uint64_t input) {
  EXPECT_LE(m.peak, output + 2 * input + kConstantBytes)
      << what << ": peak " << m.peak << " output " << output << " input " << input;
  const double amplification = double(m.peak) / double(output + input);
  g_largest_amplification = std::max(g_largest_amplification, amplification);
  std::printf("[ bound    ] %-40s peak %9llu B  output %9llu B  input %8llu B  x%.3f\n", what,
              static_cast<unsigned long long>(m.peak), static_cast<unsigned long long>(output),
              static_cast<unsigned long long>(input), amplification);
}

TEST(MemoryBound, RealBlobsDecodeWithinOutputPlusTwiceInput) {
  Context ctx;
  std::vector<kvc_api_test::Cache> caches;
  caches.push_back(kvc_api_test::gaussian_cache(2, 2, 300, 64, KVC_DTYPE_F16));
  caches.push_back(kvc_api_test::gaussian_cache(3, 1, 130, 32, KVC_DTYPE_F32));
  caches.push_back(kvc_api_test::gaussian_cache(2, 4, 77, 128, KVC_DTYPE_BF16));
  kvc_cache* real = nullptr;
  const std::string real_path = kvc_test::data_path("stories260K.safetensors");
  if (kvc_test::file_exists(real_path) && kvc_cache_load(ctx, real_path.c_str(), &real) == KVC_OK) {
    kvc_api_test::Cache c;
    ASSERT_EQ(kvc_cache_shape_default(&c.shape, sizeof c.shape), KVC_OK);
    ASSERT_EQ(kvc_cache_get_shape(real, &c.shape), KVC_OK);
    const size_t bytes = c.elements() * (c.shape.dtype == KVC_DTYPE_F32 ? 4 : 2);
    const auto* k = static_cast<const unsigned char*>(kvc_cache_keys(real));
    const auto* v = static_cast<const unsigned char*>(kvc_cache_values(real));
    c.keys.assign(k, k + bytes);
    c.values.assign(v, v + bytes);
    caches.push_back(std::move(c));
    kvc_cache_free(real);
  }
  for (const kvc_api_test::Cache& cache : caches) {
    for (const kvc_reliability::Setting& s : kvc_reliability::sweep_settings()) {
      const kvc_compress_params p = kvc_reliability::params_of(s);
      const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, cache);
      ASSERT_FALSE(blob.empty());
      for (kvc_dtype out : {KVC_DTYPE_AS_STORED, KVC_DTYPE_F32}) {
        kvc_decompress_params dp;
        ASSERT_EQ(kvc_decompress_params_default(&dp, sizeof dp), KVC_OK);
        dp.dtype = out;
        size_t needed = 0;
        ASSERT_EQ(kvc_decompress(ctx, &dp, blob.data(), blob.size(), nullptr, nullptr, 0, &needed),
                  KVC_ERR_BUFFER_TOO_SMALL);
        std::vector<unsigned char> keys(needed), values(needed);
        size_t written = 0;
        Context fresh;  // no scratch space left over from earlier calls
        const Measured m = measure([&] {
          return kvc_decompress(fresh, &dp, blob.data(), blob.size(), keys.data(), values.data(),
                                needed, &written);
        });
        ASSERT_EQ(m.status, KVC_OK) << kvc_context_last_error(fresh);
        // The caller owns the output buffers: the bound counts them although they are not ours.
        expect_within_bound(("decompress " + s.name).c_str(), m, 2 * needed, blob.size());
      }
      Context fresh;
      const Measured verify = measure([&] { return kvc_verify(fresh, blob.data(), blob.size()); });
      ASSERT_EQ(verify.status, KVC_OK);
      expect_within_bound(("verify " + s.name).c_str(), verify, 0, blob.size());
      kvc_blob_info info;
      info.struct_size = sizeof info;
      const Measured inspect =
          measure([&] { return kvc_inspect(fresh, blob.data(), blob.size(), &info); });
      ASSERT_EQ(inspect.status, KVC_OK);
      expect_within_bound(("inspect " + s.name).c_str(), inspect, 0, blob.size());
    }
  }
  std::printf("[ bound    ] largest amplification peak / (output + input): %.3f\n",
              g_largest_amplification);
}

kvc::format::HeaderFields bomb_header(uint32_t layers, uint32_t heads, uint32_t tokens,
                                      uint32_t head_dim, int bits) {
  kvc::format::HeaderFields h;
  h.format_major = KVC_FORMAT_MAJOR;
  h.format_minor = KVC_FORMAT_MINOR;
  h.producer = "bomb";
  h.dims.num_layers = layers;
  h.dims.num_kv_heads = heads;
  h.dims.num_tokens = tokens;
  h.dims.head_dim = head_dim;
  h.dims.dtype = kvc::DType::F16;
  h.key_bits = bits;
  h.value_bits = bits;
  h.group_size = 32;
  return h;
}

// A raw (16-bit) chunk whose one section declares raw_bytes but holds payload.
kvc::ChunkEncoding raw_chunk(uint64_t raw_bytes, const std::vector<unsigned char>& payload,
                             kvc::SectionEncoding encoding) {
  kvc::ChunkEncoding e;
  e.codec = kvc::Codec::Raw;
  e.bits = 16;
  kvc::SectionInfo s;
  s.kind = kvc::SectionKind::RawElements;
  s.encoding = encoding;
  s.raw_bytes = raw_bytes;
  s.stored_bytes = payload.size();
  e.sections.push_back(s);
  return e;
}

// A zstd frame of n zero bytes: tiny, declaring n bytes of content.
std::vector<unsigned char> zeros_frame(size_t n) {
  std::vector<unsigned char> zeros(n, 0), frame(ZSTD_compressBound(n));
  frame.resize(ZSTD_compress(frame.data(), frame.size(), zeros.data(), n, 1));
  return frame;
}

// Every call on a bomb fails (or, for inspect of a well-formed header, succeeds) within
// 2 x input + constant, the caller's output buffer being small.
void expect_bomb_defused(const char* what, const std::vector<unsigned char>& blob,
                         bool header_is_valid) {
  ASSERT_FALSE(blob.empty()) << what;
  Context ctx;
  std::vector<unsigned char> keys(1 << 16), values(1 << 16);
  kvc_decompress_params dp;
  ASSERT_EQ(kvc_decompress_params_default(&dp, sizeof dp), KVC_OK);
  size_t needed = 0;
  const Measured d = measure([&] {
    return kvc_decompress(ctx, &dp, blob.data(), blob.size(), keys.data(), values.data(),
                          keys.size(), &needed);
  });
  EXPECT_NE(d.status, KVC_OK) << what;
  expect_within_bound((std::string("bomb decompress ") + what).c_str(), d, 2 * keys.size(),
                      blob.size());
  const Measured v = measure([&] { return kvc_verify(ctx, blob.data(), blob.size()); });
  expect_within_bound((std::string("bomb verify ") + what).c_str(), v, 0, blob.size());
  kvc_blob_info info;
  info.struct_size = sizeof info;
  const Measured i = measure([&] { return kvc_inspect(ctx, blob.data(), blob.size(), &info); });
  EXPECT_EQ(i.status == KVC_OK, header_is_valid) << what << ": " << kvc_context_last_error(ctx);
  expect_within_bound((std::string("bomb inspect ") + what).c_str(), i, 0, blob.size());
}

TEST(MemoryBound, HeadersDeclaringHugeCachesFailCleanly) {
  // Declared caches up to the reader's limits (4096 layers, 2^40 elements per layer) and past them.
  struct Dims {
    const char* name;
    uint32_t layers, heads, tokens, head_dim;
    bool valid_header;
  };
  const Dims bombs[] = {{"2^40 elements per layer", 4, 256, 1u << 24, 256, true},
                        {"4096 layers", 4096, 8, 1u << 20, 128, true},
                        {"over 2^40 elements", 4, 4096, 0xFFFFFFFFu, 65536, false},
                        {"4097 layers", 4097, 1, 1, 32, false},
                        {"head_dim 2^31", 1, 1, 1, 1u << 31, false}};
  for (const Dims& b : bombs) {
    const kvc::format::HeaderFields h = bomb_header(b.layers, b.heads, b.tokens, b.head_dim, 16);
    // One chunk per layer and tensor, each a 64-byte stored section declaring the full size.
    const std::vector<unsigned char> payload(64, 0x11);
    std::vector<kvc::ChunkEncoding> encodings;
    std::vector<std::vector<unsigned char>> payloads;
    const uint32_t chunks = std::min<uint32_t>(2 * b.layers, 8192);
    for (uint32_t i = 0; i < chunks; ++i) {
      encodings.push_back(raw_chunk(uint64_t{b.heads} * b.tokens * b.head_dim * 2, payload,
                                    kvc::SectionEncoding::Stored));
      payloads.push_back(payload);
    }
    expect_bomb_defused(b.name, hand_made_blob(h, encodings, payloads, b.tokens), b.valid_header);
  }
}

TEST(MemoryBound, ChunksDeclaringHugeRawSizesFailCleanly) {
  // A 1-layer cache of 1 x 64 x 32 f16 (4 KiB per tensor) whose chunks lie about their sizes.
  const kvc::format::HeaderFields h = bomb_header(1, 1, 64, 32, 16);
  const uint64_t honest = 64 * 32 * 2;
  struct Lie {
    const char* name;
    uint64_t raw_bytes;
    std::vector<unsigned char> payload;
    kvc::SectionEncoding encoding;
  };
  const Lie lies[] = {
      {"stored section declaring 2^40 raw bytes", uint64_t{1} << 40,
       std::vector<unsigned char>(honest, 1), kvc::SectionEncoding::Stored},
      {"zstd section declaring 2^40 raw bytes", uint64_t{1} << 40, zeros_frame(1 << 20),
       kvc::SectionEncoding::Zstd},
      {"zstd frame of 64 MiB in an honest section", honest, zeros_frame(64 << 20),
       kvc::SectionEncoding::Zstd},
      {"zstd frame of 1 byte in an honest section", honest, zeros_frame(1),
       kvc::SectionEncoding::Zstd},
  };
  for (const Lie& lie : lies) {
    std::vector<kvc::ChunkEncoding> encodings(2,
                                              raw_chunk(lie.raw_bytes, lie.payload, lie.encoding));
    const std::vector<std::vector<unsigned char>> payloads(2, lie.payload);
    expect_bomb_defused(lie.name, hand_made_blob(h, encodings, payloads, 64), true);
  }
}

}  // namespace
