// decompress_test.cpp: C API section "Inspect, verify, decompress": fields, ranges, corruption.
#include <gtest/gtest.h>
#include <kvc/kvc.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "api/api_helpers.h"
#include "unit/test_data.h"

namespace {

using kvc_api_test::Cache;
using kvc_api_test::contains;
using kvc_api_test::Context;

constexpr size_t kCanaryBytes = 64;
constexpr unsigned char kCanary = 0xC3;

bool canary_intact(const std::vector<unsigned char>& buffer, size_t from) {
  for (size_t i = from; i < buffer.size(); ++i) {
    if (buffer[i] != kCanary) return false;
  }
  return true;
}

// A blob of a few KB holding every kind of section: 4-bit keys with a recent window (codes,
// scales, zeros, recent rows) and lossless values, Zstandard on.
struct SmallBlob {
  Cache cache;
  std::vector<unsigned char> blob;
};

SmallBlob small_blob(kvc_context* ctx) {
  SmallBlob s;
  s.cache = kvc_api_test::gaussian_cache(2, 2, 24, 16, KVC_DTYPE_F16, 5);
  kvc_compress_params p = kvc_api_test::params(4, 16, 32, 4);
  s.blob = kvc_api_test::compress(ctx, p, s.cache);
  return s;
}

TEST(DecompressParams, DefaultsDecodeEveryLayerAsStored) {
  kvc_decompress_params p;
  std::memset(&p, 0x5A, sizeof p);
  ASSERT_EQ(kvc_decompress_params_default(&p, sizeof p), KVC_OK);
  EXPECT_EQ(p.struct_size, sizeof p);
  EXPECT_EQ(p.dtype, KVC_DTYPE_AS_STORED);
  EXPECT_EQ(p.first_layer, 0u);
  EXPECT_EQ(p.num_layers, 0u);
  std::memset(&p, 0x5A, sizeof p);
  ASSERT_EQ(kvc_decompress_params_default(&p, offsetof(kvc_decompress_params, first_layer)),
            KVC_OK);
  EXPECT_EQ(p.dtype, KVC_DTYPE_AS_STORED);
  EXPECT_EQ(p.first_layer, 0x5A5A5A5Au);  // beyond the given size: untouched
  EXPECT_EQ(kvc_decompress_params_default(&p, sizeof p + 4), KVC_ERR_UNSUPPORTED_VERSION);
}

TEST(Inspect, ReportsEveryFieldOfTheHeader) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(3, 2, 50, 32, KVC_DTYPE_BF16);
  kvc_compress_params p = kvc_api_test::params(8, 3, 128, 6);
  p.zstd_level = 7;
  p.byte_shuffle = KVC_SHUFFLE_ON;
  const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, c);
  kvc_blob_info info;
  std::memset(&info, 0x5A, sizeof info);
  info.struct_size = sizeof info;
  ASSERT_EQ(kvc_inspect(ctx, blob.data(), blob.size(), &info), KVC_OK) << ctx.error();
  EXPECT_EQ(info.struct_size, sizeof info);
  EXPECT_EQ(info.format_major, uint32_t{KVC_FORMAT_MAJOR});
  EXPECT_EQ(info.format_minor, uint32_t{KVC_FORMAT_MINOR});
  EXPECT_EQ(info.num_layers, 3u);
  EXPECT_EQ(info.num_kv_heads, 2u);
  EXPECT_EQ(info.num_tokens, 50u);
  EXPECT_EQ(info.head_dim, 32u);
  EXPECT_EQ(info.dtype, KVC_DTYPE_BF16);
  EXPECT_EQ(info.key_bits, 8);
  EXPECT_EQ(info.value_bits, 3);
  EXPECT_EQ(info.group_size, 128);
  EXPECT_EQ(info.recent_full_precision_tokens, 6);
  EXPECT_EQ(info.zstd_level, 7);
  EXPECT_EQ(info.byte_shuffle, KVC_SHUFFLE_ON);
  EXPECT_EQ(info.num_chunks, 6u);
  EXPECT_EQ(info.original_bytes, 2u * 3 * 2 * 50 * 32 * 2);
  EXPECT_EQ(info.blob_bytes, blob.size());
  EXPECT_EQ(std::string(info.producer), std::string("kvc ") + kvc_version_string());
}

TEST(Inspect, AnOlderInfoStructIsWrittenNoFurtherAndANewerOneIsRefused) {
  Context ctx;
  const SmallBlob s = small_blob(ctx);
  std::vector<unsigned char> raw(sizeof(kvc_blob_info) + kCanaryBytes, kCanary);
  const uint32_t old_size = offsetof(kvc_blob_info, producer);
  std::memcpy(raw.data(), &old_size, 4);
  ASSERT_EQ(
      kvc_inspect(ctx, s.blob.data(), s.blob.size(), reinterpret_cast<kvc_blob_info*>(raw.data())),
      KVC_OK);
  EXPECT_TRUE(canary_intact(raw, old_size));
  kvc_blob_info info{};
  info.struct_size = sizeof info + 8;
  EXPECT_EQ(kvc_inspect(ctx, s.blob.data(), s.blob.size(), &info), KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), "out_info.struct_size"));
  EXPECT_EQ(kvc_inspect(ctx, s.blob.data(), s.blob.size(), nullptr), KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "out_info is NULL"));
}

TEST(Verify, AcceptsAFreshBlobOfEverySetting) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(2, 2, 40, 16);
  for (int bits : {2, 3, 4, 8, 16}) {
    for (int level : {0, 3}) {
      kvc_compress_params p = kvc_api_test::params(bits, bits == 16 ? 2 : 16, 32, 3);
      p.zstd_level = level;
      const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, c);
      EXPECT_EQ(kvc_verify(ctx, blob.data(), blob.size()), KVC_OK) << ctx.error();
      EXPECT_EQ(ctx.error(), "");
    }
  }
}

TEST(Decompress, OneLayerEqualsItsSliceOfTheFullDecode) {
  Context ctx;
  const Cache c = kvc_api_test::gaussian_cache(4, 2, 30, 16);
  const std::vector<unsigned char> blob =
      kvc_api_test::compress(ctx, kvc_api_test::params(3, 4, 32, 2), c);
  for (kvc_dtype dtype : {KVC_DTYPE_AS_STORED, KVC_DTYPE_F32, KVC_DTYPE_BF16}) {
    const kvc_api_test::Decoded full = kvc_api_test::decompress(ctx, blob, dtype);
    const size_t layer_bytes = full.keys.size() / 4;
    for (uint32_t layer = 0; layer < 4; ++layer) {
      const kvc_api_test::Decoded one = kvc_api_test::decompress(ctx, blob, dtype, layer, 1);
      ASSERT_EQ(one.keys.size(), layer_bytes);
      EXPECT_TRUE(
          std::equal(one.keys.begin(), one.keys.end(), full.keys.begin() + layer * layer_bytes))
          << "layer " << layer << " dtype " << dtype;
      EXPECT_TRUE(std::equal(one.values.begin(), one.values.end(),
                             full.values.begin() + layer * layer_bytes));
    }
    const kvc_api_test::Decoded tail = kvc_api_test::decompress(ctx, blob, dtype, 1, 0);
    EXPECT_TRUE(std::equal(tail.keys.begin(), tail.keys.end(), full.keys.begin() + layer_bytes));
  }
}

TEST(Decompress, IntoAnotherDTypeIsTheExactConversionOfALosslessBlob) {
  Context ctx;
  Cache c = kvc_api_test::gaussian_cache(1, 2, 64, 32, KVC_DTYPE_F16);
  for (size_t i = 0; i < c.keys.size(); i += 2) {  // every fp16 pattern, NaNs included
    const auto h = static_cast<uint16_t>(i / 2 * 16 + 3);
    std::memcpy(c.keys.data() + i, &h, 2);
  }
  const std::vector<unsigned char> blob =
      kvc_api_test::compress(ctx, kvc_api_test::params(16, 16), c);
  const kvc_api_test::Decoded wide = kvc_api_test::decompress(ctx, blob, KVC_DTYPE_F32);
  ASSERT_EQ(wide.keys.size(), c.keys.size() * 2);
  for (size_t i = 0; i < c.elements(); ++i) {
    const double x = kvc_test::element_value(c.keys.data(), kvc_test::kF16, i);
    const double y = kvc_test::element_value(wide.keys.data(), kvc_test::kF32, i);
    if (std::isnan(x)) {
      EXPECT_TRUE(std::isnan(y)) << i;
    } else {
      EXPECT_EQ(x, y) << i;
      EXPECT_EQ(std::signbit(x), std::signbit(y)) << i;
    }
  }
}

TEST(Decompress, ABlobAtAnyAddressDecodesToTheSameBytes) {
  Context ctx;
  for (kvc_dtype dtype : {KVC_DTYPE_F16, KVC_DTYPE_BF16, KVC_DTYPE_F32}) {
    const Cache c = kvc_api_test::gaussian_cache(2, 3, 21, 6, dtype, 6);
    for (int bits : {3, 16}) {
      kvc_compress_params p = kvc_api_test::params(bits, 16, 32, 5);
      p.zstd_level = 0;  // stored sections: converted straight from the blob's bytes
      const std::vector<unsigned char> blob = kvc_api_test::compress(ctx, p, c);
      // Into the stored dtype (a copy) and into another one (a conversion of each element).
      for (kvc_dtype out :
           {KVC_DTYPE_AS_STORED, dtype == KVC_DTYPE_F32 ? KVC_DTYPE_BF16 : KVC_DTYPE_F32}) {
        const kvc_api_test::Decoded expected = kvc_api_test::decompress(ctx, blob, out);
        kvc_decompress_params dp;
        ASSERT_EQ(kvc_decompress_params_default(&dp, sizeof dp), KVC_OK);
        dp.dtype = out;
        for (size_t shift = 1; shift < 8; ++shift) {
          std::vector<unsigned char> moved(blob.size() + shift);
          std::copy(blob.begin(), blob.end(), moved.begin() + static_cast<ptrdiff_t>(shift));
          std::vector<unsigned char> keys(expected.keys.size()), values(keys.size());
          size_t written = 0;
          ASSERT_EQ(kvc_decompress(ctx, &dp, moved.data() + shift, blob.size(), keys.data(),
                                   values.data(), keys.size(), &written),
                    KVC_OK)
              << ctx.error();
          EXPECT_EQ(keys, expected.keys) << "shift " << shift;
          EXPECT_EQ(values, expected.values) << "shift " << shift;
          EXPECT_EQ(kvc_verify(ctx, moved.data() + shift, blob.size()), KVC_OK);
        }
      }
    }
  }
}

TEST(Decompress, ATooSmallBufferReportsTheSizeNeededAndARetryWithItSucceeds) {
  Context ctx;
  const SmallBlob s = small_blob(ctx);
  kvc_decompress_params p;
  ASSERT_EQ(kvc_decompress_params_default(&p, sizeof p), KVC_OK);
  size_t needed = 0;
  ASSERT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), nullptr, nullptr, 0, &needed),
            KVC_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(needed, s.cache.keys.size());
  EXPECT_TRUE(contains(ctx.error(),
                       "tensor_capacity 0 is too small: each of keys and values "
                       "needs " +
                           std::to_string(needed) + " bytes"));
  std::vector<unsigned char> keys(needed + kCanaryBytes, kCanary), values(keys);
  size_t written = 0;
  EXPECT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), keys.data(), values.data(),
                           needed - 1, &written),
            KVC_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(written, needed);
  EXPECT_TRUE(canary_intact(keys, 0));  // nothing written at all
  EXPECT_TRUE(canary_intact(values, 0));
  ASSERT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), keys.data(), values.data(),
                           needed, &written),
            KVC_OK);
  EXPECT_EQ(written, needed);
  EXPECT_TRUE(canary_intact(keys, needed));
  EXPECT_TRUE(canary_intact(values, needed));
  EXPECT_TRUE(std::equal(s.cache.values.begin(), s.cache.values.end(), values.begin()));
  // A layer range needs only its layers.
  p.first_layer = 1;
  ASSERT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), nullptr, nullptr, 0, &needed),
            KVC_ERR_BUFFER_TOO_SMALL);
  EXPECT_EQ(needed, s.cache.keys.size() / 2);
}

TEST(Decompress, InvalidArgumentsAreRejectedWithTheValueNamed) {
  Context ctx;
  const SmallBlob s = small_blob(ctx);
  std::vector<unsigned char> keys(s.cache.keys.size()), values(keys.size());
  kvc_decompress_params p;
  ASSERT_EQ(kvc_decompress_params_default(&p, sizeof p), KVC_OK);
  size_t written = 0;
  EXPECT_EQ(
      kvc_decompress(ctx, &p, nullptr, 100, keys.data(), values.data(), keys.size(), &written),
      KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "src is NULL"));
  EXPECT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), keys.data(), values.data(),
                           keys.size(), nullptr),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "out_tensor_bytes is NULL"));
  EXPECT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), nullptr, values.data(),
                           keys.size(), &written),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "keys or values output is NULL"));
  p.first_layer = 2;
  EXPECT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), keys.data(), values.data(),
                           keys.size(), &written),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "first_layer 2 is not below num_layers 2"));
  p.first_layer = 1;
  p.num_layers = 2;
  EXPECT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), keys.data(), values.data(),
                           keys.size(), &written),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "layers [1, +2) run past num_layers 2"));
  p.num_layers = 0;
  p.dtype = 5;
  EXPECT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), keys.data(), values.data(),
                           keys.size(), &written),
            KVC_ERR_INVALID_ARGUMENT);
  EXPECT_TRUE(contains(ctx.error(), "decompress dtype 5 is not"));
  p.dtype = KVC_DTYPE_AS_STORED;
  p.struct_size = sizeof p + 4;
  EXPECT_EQ(kvc_decompress(ctx, &p, s.blob.data(), s.blob.size(), keys.data(), values.data(),
                           keys.size(), &written),
            KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), "kvc_decompress_params.struct_size " +
                                        std::to_string(sizeof p + 4) + " is newer"));
}

TEST(Decompress, AFutureFormatMajorIsAnUnsupportedVersionForEveryReader) {
  Context ctx;
  SmallBlob s = small_blob(ctx);
  s.blob[4] = static_cast<unsigned char>(KVC_FORMAT_MAJOR + 1);  // major, little-endian u16
  s.blob[5] = 0;
  const std::string expected = "format version " + std::to_string(KVC_FORMAT_MAJOR + 1) + "." +
                               std::to_string(KVC_FORMAT_MINOR) +
                               " is not supported: this library reads major version " +
                               std::to_string(KVC_FORMAT_MAJOR);
  EXPECT_EQ(kvc_verify(ctx, s.blob.data(), s.blob.size()), KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), expected));
  kvc_blob_info info{};
  info.struct_size = sizeof info;
  EXPECT_EQ(kvc_inspect(ctx, s.blob.data(), s.blob.size(), &info), KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), expected));
  std::vector<unsigned char> keys(s.cache.keys.size()), values(keys.size());
  size_t written = 0;
  EXPECT_EQ(kvc_decompress(ctx, nullptr, s.blob.data(), s.blob.size(), keys.data(), values.data(),
                           keys.size(), &written),
            KVC_ERR_UNSUPPORTED_VERSION);
  EXPECT_TRUE(contains(ctx.error(), expected));
}

// Runs kvc_verify and kvc_decompress on damaged bytes and tallies the outcomes.
class DamageTally {
 public:
  DamageTally(kvc_context* ctx, size_t tensor_bytes)
      : ctx_(ctx),
        tensor_bytes_(tensor_bytes),
        keys_(tensor_bytes + kCanaryBytes, kCanary),
        values_(keys_) {}

  // expected: the status both calls must give (CORRUPT_DATA, or UNSUPPORTED_VERSION when the
  // damage lands on the format major).
  void check(const std::vector<unsigned char>& damaged, kvc_status expected,
             const std::string& what) {
    ++tried_;
    const kvc_status v = kvc_verify(ctx_, damaged.data(), damaged.size());
    const bool verify_message = kvc_context_last_error(ctx_)[0] != '\0';
    size_t written = 0;
    const kvc_status d = kvc_decompress(ctx_, nullptr, damaged.data(), damaged.size(), keys_.data(),
                                        values_.data(), tensor_bytes_, &written);
    const bool decompress_message = kvc_context_last_error(ctx_)[0] != '\0';
    if (!canary_intact(keys_, tensor_bytes_) || !canary_intact(values_, tensor_bytes_)) {
      ADD_FAILURE() << what << ": wrote past the output buffers";
    }
    if (v == KVC_OK || d == KVC_OK) {
      if (silently_wrong_++ < 5)
        ADD_FAILURE() << what << ": accepted (verify " << v << ", decompress " << d << ")";
    } else if (v == expected && d == expected && verify_message && decompress_message) {
      ++detected_;
    } else if (other_++ < 5) {
      ADD_FAILURE() << what << ": verify " << kvc_status_name(v) << ", decompress "
                    << kvc_status_name(d) << ", expected " << kvc_status_name(expected);
    }
  }
  size_t tried() const { return tried_; }
  size_t detected() const { return detected_; }
  size_t silently_wrong() const { return silently_wrong_; }

 private:
  kvc_context* ctx_;
  size_t tensor_bytes_;
  std::vector<unsigned char> keys_, values_;
  size_t tried_ = 0, detected_ = 0, silently_wrong_ = 0, other_ = 0;
};

kvc_status expected_status(size_t offset) {
  return offset == 4 || offset == 5 ? KVC_ERR_UNSUPPORTED_VERSION : KVC_ERR_CORRUPT_DATA;
}

TEST(Corruption, EverySingleBitFlipIsDetectedByVerifyAndDecompress) {
  Context ctx;
  const SmallBlob s = small_blob(ctx);
  ASSERT_GT(s.blob.size(), 1000u);
  ASSERT_LT(s.blob.size(), 8000u);
  DamageTally tally(ctx, s.cache.keys.size());
  std::vector<unsigned char> damaged = s.blob;
  for (size_t offset = 0; offset < s.blob.size(); ++offset) {
    for (int bit = 0; bit < 8; ++bit) {
      damaged[offset] ^= static_cast<unsigned char>(1u << bit);
      tally.check(damaged, expected_status(offset),
                  "bit " + std::to_string(bit) + " of byte " + std::to_string(offset));
      damaged[offset] = s.blob[offset];
    }
  }
  EXPECT_EQ(tally.tried(), 8 * s.blob.size());
  EXPECT_EQ(tally.silently_wrong(), 0u);
  EXPECT_EQ(tally.detected(), tally.tried());
  RecordProperty("blob_bytes", static_cast<int>(s.blob.size()));
  RecordProperty("flips_detected", static_cast<int>(tally.detected()));
}

TEST(Corruption, EveryTruncationIsCorruptData) {
  Context ctx;
  const SmallBlob s = small_blob(ctx);
  DamageTally tally(ctx, s.cache.keys.size());
  for (size_t length = 0; length < s.blob.size(); ++length) {
    const std::vector<unsigned char> cut(s.blob.begin(), s.blob.begin() + length);
    tally.check(cut, KVC_ERR_CORRUPT_DATA, "truncated to " + std::to_string(length));
  }
  EXPECT_EQ(tally.silently_wrong(), 0u);
  EXPECT_EQ(tally.detected(), s.blob.size());
}

TEST(Corruption, EveryByteSetToZeroOrAllOnesIsDetected) {
  Context ctx;
  const SmallBlob s = small_blob(ctx);
  DamageTally tally(ctx, s.cache.keys.size());
  std::vector<unsigned char> damaged = s.blob;
  for (size_t offset = 0; offset < s.blob.size(); ++offset) {
    for (unsigned char value : {0x00, 0xFF}) {
      if (s.blob[offset] == value) continue;  // no change
      damaged[offset] = value;
      tally.check(damaged, expected_status(offset),
                  "byte " + std::to_string(offset) + " set to " + std::to_string(value));
      damaged[offset] = s.blob[offset];
    }
  }
  EXPECT_GT(tally.tried(), s.blob.size());
  EXPECT_EQ(tally.silently_wrong(), 0u);
  EXPECT_EQ(tally.detected(), tally.tried());
}

TEST(Corruption, GarbageAndAppendedBytesAreCorruptData) {
  Context ctx;
  const SmallBlob s = small_blob(ctx);
  DamageTally tally(ctx, s.cache.keys.size());
  std::mt19937 rng(17);
  for (size_t size : {size_t{1}, size_t{8}, size_t{31}, size_t{32}, size_t{4096}}) {
    std::vector<unsigned char> garbage(size);
    for (unsigned char& b : garbage) b = static_cast<unsigned char>(rng());
    tally.check(garbage, KVC_ERR_CORRUPT_DATA, "garbage of " + std::to_string(size));
    // Garbage behind a valid preamble, and behind a valid preamble with a valid trailer.
    std::vector<unsigned char> framed(8 + size + 24);
    std::copy(s.blob.begin(), s.blob.begin() + 8, framed.begin());
    std::copy(garbage.begin(), garbage.end(), framed.begin() + 8);
    std::copy(s.blob.end() - 24, s.blob.end(), framed.end() - 24);
    tally.check(std::vector<unsigned char>(framed.begin(), framed.end() - 24), KVC_ERR_CORRUPT_DATA,
                "preamble + garbage");
    tally.check(framed, KVC_ERR_CORRUPT_DATA, "preamble + garbage + trailer");
  }
  std::vector<unsigned char> longer = s.blob;
  longer.push_back(0);
  tally.check(longer, KVC_ERR_CORRUPT_DATA, "one byte appended");
  std::vector<unsigned char> twice(2 * s.blob.size());
  std::copy(s.blob.begin(), s.blob.end(), twice.begin());
  std::copy(s.blob.begin(), s.blob.end(), twice.begin() + static_cast<ptrdiff_t>(s.blob.size()));
  tally.check(twice, KVC_ERR_CORRUPT_DATA, "two blobs back to back");
  EXPECT_EQ(tally.silently_wrong(), 0u);
  EXPECT_EQ(tally.detected(), tally.tried());
}

TEST(Corruption, ADamagedBlobIsReportedAsAChecksumMismatch) {
  Context ctx;
  SmallBlob s = small_blob(ctx);
  s.blob[s.blob.size() / 2] ^= 0x10;
  EXPECT_EQ(kvc_verify(ctx, s.blob.data(), s.blob.size()), KVC_ERR_CORRUPT_DATA);
  EXPECT_TRUE(contains(ctx.error(), "checksum mismatch"));
}

}  // namespace
