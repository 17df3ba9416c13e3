// format_test.cpp: the .kvc stream: every codec setting round trips, layout, ranges, versions,
// sizes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "codecs/cache_codec.h"
#include "core/error.h"
#include "format/layout.h"
#include "format/reader.h"
#include "unit/codec_helpers.h"
#include "unit/test_data.h"

namespace kvc {
namespace {

using test::PackedCache;

kvc_status status_of(const std::function<void()>& body, std::string* message = nullptr) {
  try {
    body();
    return KVC_OK;
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.code();
  }
}

PackedCache small_cache(DType dtype = DType::F16) {
  return test::pack(kvc_test::make_gaussian_cache(3, 2, 45, 24, 21), dtype);
}

TEST(Format, EveryCodecSettingRoundTripsAndTheEntropyStageIsLossless) {
  const PackedCache cache = small_cache();
  size_t blobs = 0;
  for (int key_bits : {2, 3, 4, 8, 16}) {
    for (int value_bits : {2, 3, 4, 8, 16}) {
      for (uint32_t group : {32u, 64u, 128u}) {
        for (uint32_t recent : {0u, 7u}) {
          PackedCache reference;  // decoded with the entropy stage off
          for (int level : {0, 1, 9}) {
            for (ShuffleMode shuffle : {ShuffleMode::Auto, ShuffleMode::Off, ShuffleMode::On}) {
              CompressSettings s;
              s.key_bits = key_bits;
              s.value_bits = value_bits;
              s.group_size = group;
              s.recent_tokens = recent;
              s.zstd_level = level;
              s.shuffle = shuffle;
              const std::vector<unsigned char> blob = test::compress(cache, s);
              ++blobs;
              const format::BlobReader reader(blob.data(), blob.size());
              ASSERT_NO_THROW(reader.verify_all());
              const format::HeaderFields& h = reader.header();
              EXPECT_EQ(h.format_major, uint32_t{KVC_FORMAT_MAJOR});
              EXPECT_EQ(h.format_minor, uint32_t{KVC_FORMAT_MINOR});
              EXPECT_EQ(h.key_bits, key_bits);
              EXPECT_EQ(h.value_bits, value_bits);
              EXPECT_EQ(h.group_size, group);
              EXPECT_EQ(h.recent_tokens, recent);
              EXPECT_EQ(h.zstd_level, level);
              EXPECT_EQ(h.byte_shuffle, static_cast<int>(shuffle));
              EXPECT_EQ(h.dims.num_layers, 3u);
              EXPECT_EQ(h.dims.num_kv_heads, 2u);
              EXPECT_EQ(h.dims.num_tokens, 45u);
              EXPECT_EQ(h.dims.head_dim, 24u);
              EXPECT_EQ(h.dims.dtype, DType::F16);
              EXPECT_EQ(reader.chunk_count(), 6u);
              const PackedCache back = test::decompress(blob);
              if (reference.keys.empty()) {
                reference = back;
              } else {
                ASSERT_EQ(back.keys, reference.keys) << "zstd " << level << " changed the keys";
                ASSERT_EQ(back.values, reference.values);
              }
              if (key_bits == 16) EXPECT_EQ(back.keys, cache.keys);
              if (value_bits == 16) EXPECT_EQ(back.values, cache.values);
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(blobs, 5u * 5 * 3 * 2 * 3 * 3);
}

TEST(Format, BlobStartsWithPreambleAndEndsWithTrailer) {
  const std::vector<unsigned char> blob = test::compress(small_cache(), CompressSettings{});
  ASSERT_GT(blob.size(), format::kPreambleBytes + format::kTrailerBytes);
  EXPECT_EQ(std::memcmp(blob.data(), format::kMagic, 4), 0);
  EXPECT_EQ(format::load_u16(blob.data() + 4), KVC_FORMAT_MAJOR);
  EXPECT_EQ(format::load_u16(blob.data() + 6), KVC_FORMAT_MINOR);
  EXPECT_EQ(std::memcmp(blob.data() + blob.size() - 8, format::kEndMagic, 8), 0);
  const uint64_t footer = format::load_u64(blob.data() + blob.size() - format::kTrailerBytes);
  EXPECT_LT(footer, blob.size() - format::kTrailerBytes);
  // The header message follows the preamble and carries the KVC1 identifier.
  EXPECT_EQ(std::memcmp(blob.data() + format::kPreambleBytes + 8, "KVC1", 4), 0);
  const format::BlobReader reader(blob.data(), blob.size());
  EXPECT_EQ(reader.header().producer, "kvc " + std::to_string(KVC_VERSION_MAJOR) + "." +
                                          std::to_string(KVC_VERSION_MINOR) + "." +
                                          std::to_string(KVC_VERSION_PATCH));
  for (uint32_t layer = 0; layer < 3; ++layer) {
    const format::ChunkRecord k =
        reader.read_chunk(reader.chunk_index(layer, format::TensorKind::Key));
    const format::ChunkRecord v =
        reader.read_chunk(reader.chunk_index(layer, format::TensorKind::Value));
    EXPECT_EQ(k.layer, layer);
    EXPECT_EQ(k.tensor, format::TensorKind::Key);
    EXPECT_EQ(v.layer, layer);
    EXPECT_EQ(v.tensor, format::TensorKind::Value);
    EXPECT_EQ(k.encoding.axis, GroupAxis::Tokens);
    EXPECT_EQ(v.encoding.axis, GroupAxis::Channels);
    EXPECT_EQ(k.token_begin, 0u);
    EXPECT_EQ(k.token_count, 45u);
    EXPECT_LT(k.payload, v.payload);
  }
}

TEST(Format, ALayerRangeDecodesToTheSameBytesAsTheFullDecode) {
  for (int bits : {3, 16}) {
    CompressSettings s;
    s.key_bits = bits;
    s.value_bits = 4;
    s.recent_tokens = 5;
    const PackedCache cache = small_cache(DType::BF16);
    const std::vector<unsigned char> blob = test::compress(cache, s);
    for (int dtype : {KVC_DTYPE_AS_STORED, KVC_DTYPE_F32}) {
      const PackedCache full = test::decompress(blob, dtype);
      const size_t layer_bytes = full.dims.bytes_per_tensor();
      for (uint32_t first = 0; first < 3; ++first) {
        for (uint32_t count = 1; first + count <= 3; ++count) {
          DecodeRange range;
          range.first_layer = first;
          range.num_layers = count;
          const PackedCache part = test::decompress(blob, dtype, range);
          ASSERT_EQ(part.keys.size(), count * layer_bytes);
          EXPECT_TRUE(std::equal(part.keys.begin(), part.keys.end(),
                                 full.keys.begin() + first * layer_bytes))
              << "layers " << first << "+" << count;
          EXPECT_TRUE(std::equal(part.values.begin(), part.values.end(),
                                 full.values.begin() + first * layer_bytes));
        }
      }
    }
  }
}

TEST(Format, LayerRangesOutsideTheCacheAreInvalidArguments) {
  const std::vector<unsigned char> blob = test::compress(small_cache(), CompressSettings{});
  CacheCodec codec(cpu_backend());
  std::vector<unsigned char> k(1 << 20), v(1 << 20);
  std::string message;
  DecodeRange range;
  range.first_layer = 3;
  EXPECT_EQ(status_of(
                [&] {
                  codec.decompress(blob.data(), blob.size(), range, KVC_DTYPE_AS_STORED, false,
                                   k.data(), v.data(), k.size());
                },
                &message),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("first_layer 3"), std::string::npos) << message;
  range.first_layer = 1;
  range.num_layers = 3;
  EXPECT_EQ(status_of(
                [&] {
                  codec.decompress(blob.data(), blob.size(), range, KVC_DTYPE_AS_STORED, false,
                                   k.data(), v.data(), k.size());
                },
                &message),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_NE(message.find("run past num_layers 3"), std::string::npos) << message;
}

TEST(Format, AnUnknownMajorVersionIsUnsupportedWithTheVersionsNamed) {
  std::vector<unsigned char> blob = test::compress(small_cache(), CompressSettings{});
  format::store_u16(blob.data() + 4, KVC_FORMAT_MAJOR + 1);
  std::string message;
  EXPECT_EQ(status_of([&] { format::BlobReader(blob.data(), blob.size()); }, &message),
            KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_NE(message.find("format version " + std::to_string(KVC_FORMAT_MAJOR + 1) + "." + std::to_string(KVC_FORMAT_MINOR)),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("major version " + std::to_string(KVC_FORMAT_MAJOR)), std::string::npos);
  // A newer minor of the same major is read (the content checksum then fails, as it covers
  // the preamble; that is a CORRUPT_DATA from verify, not a version error).
  blob = test::compress(small_cache(), CompressSettings{});
  format::store_u16(blob.data() + 6, KVC_FORMAT_MINOR + 1);
  const format::BlobReader reader(blob.data(), blob.size());
  EXPECT_EQ(reader.header().format_minor, uint32_t{KVC_FORMAT_MINOR + 1});
  EXPECT_EQ(status_of([&] { reader.verify_all(); }), KVC_ERR_CORRUPT_DATA);
}

TEST(Format, ATooSmallBufferReportsTheSizeNeededAndTheExactSizeFits) {
  const PackedCache cache = small_cache();
  CompressSettings s;
  s.key_bits = 8;
  s.value_bits = 2;
  const std::vector<unsigned char> blob = test::compress(cache, s);
  CacheCodec codec(cpu_backend());
  std::vector<unsigned char> dst(blob.size() + 16, 0x77);
  for (size_t capacity = 0; capacity < blob.size(); capacity += capacity < 64 ? 1 : 61) {
    const CompressResult r = codec.compress(test::view_of(cache), s, nullptr, dst.data(), capacity);
    ASSERT_FALSE(r.fits) << capacity;
    ASSERT_EQ(r.blob_bytes, blob.size()) << capacity;
    for (size_t i = capacity; i < dst.size(); ++i) {
      ASSERT_EQ(dst[i], 0x77) << "capacity " << capacity << " overwritten at " << i;
    }
  }
  const CompressResult r =
      codec.compress(test::view_of(cache), s, nullptr, dst.data(), blob.size());
  ASSERT_TRUE(r.fits);
  EXPECT_TRUE(std::equal(blob.begin(), blob.end(), dst.begin()));
  for (size_t i = blob.size(); i < dst.size(); ++i) EXPECT_EQ(dst[i], 0x77);
}

TEST(Format, CompressBoundHoldsForIncompressibleInputAndFloat32SideData) {
  // Random bit patterns do not compress, and huge finite floats force fp32 scales.
  PackedCache cache;
  cache.dims = {2, 3, 70, 40, DType::F32};
  const size_t n = 2 * cache.dims.elements_per_tensor();
  std::vector<float> x(n);
  std::mt19937 rng(5);
  for (float& f : x) {
    do {
      f = kvc_test::bits_float(static_cast<uint32_t>(rng()));
    } while (!std::isfinite(f) || std::fabs(f) > 1e30f);
  }
  cache.keys = kvc_test::encode(x, kvc_test::kF32);
  cache.values = cache.keys;
  for (int bits : {2, 3, 4, 8, 16}) {
    for (uint32_t recent : {0u, 13u}) {
      for (int level : {0, 3}) {
        CompressSettings s;
        s.key_bits = bits;
        s.value_bits = bits;
        s.group_size = 32;
        s.recent_tokens = recent;
        s.zstd_level = level;
        s.shuffle = ShuffleMode::On;
        const std::vector<unsigned char> blob = test::compress(cache, s);  // throws when over
        EXPECT_LE(blob.size(), compress_bound(s, cache.dims));
      }
    }
  }
}

TEST(Format, SettingsOutOfRangeAreRejectedWithTheFieldNamed) {
  struct Case {
    CompressSettings s;
    const char* expected;
  };
  std::vector<Case> cases(5);
  cases[0].s.key_bits = 5;
  cases[0].expected = "key_bits 5 is not 2, 3, 4, 8 or 16";
  cases[1].s.value_bits = 1;
  cases[1].expected = "value_bits 1 is not 2, 3, 4, 8 or 16";
  cases[2].s.group_size = 48;
  cases[2].expected = "group_size 48 is not 32, 64 or 128";
  cases[3].s.zstd_level = 23;
  cases[3].expected = "zstd_level 23 is not in -7..22";
  cases[4].s.zstd_level = -8;
  cases[4].expected = "zstd_level -8 is not in -7..22";
  for (const Case& c : cases) {
    std::string message;
    EXPECT_EQ(status_of([&] { validate(c.s); }, &message), KVC_ERR_INVALID_ARGUMENT);
    EXPECT_EQ(message, c.expected);
  }
}

}  // namespace
}  // namespace kvc
