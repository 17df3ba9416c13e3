// entropy_zstd_test.cpp: byte shuffling and the Zstandard section coder: round trips and
// rejections.
#include "codecs/entropy_zstd.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"

namespace kvc {
namespace {

std::vector<unsigned char> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out(n);
  for (unsigned char& b : out) b = static_cast<unsigned char>(rng());
  return out;
}

// 16-bit elements whose high bytes repeat and low bytes are noise: shuffling helps Zstandard.
std::vector<unsigned char> smooth_halves(size_t n, uint32_t seed) {
  std::vector<unsigned char> out = random_bytes(2 * n, seed);
  for (size_t i = 0; i < n; ++i) out[2 * i + 1] = static_cast<unsigned char>(0x3C + (i / 500) % 2);
  return out;
}

void expect_decodes_to(const SectionInfo& info, const std::vector<unsigned char>& payload,
                       const std::vector<unsigned char>& raw) {
  SectionDecoder decoder;
  std::vector<unsigned char> out(raw.size() + 1, 0xEE);
  decoder.decode(info, payload.data(), out.data());
  EXPECT_TRUE(std::equal(raw.begin(), raw.end(), out.begin()));
  EXPECT_EQ(out.back(), 0xEE) << "decode wrote past raw_bytes";
}

kvc_status decode_status(const SectionInfo& info, const std::vector<unsigned char>& payload) {
  SectionDecoder decoder;
  std::vector<unsigned char> out(info.raw_bytes);
  try {
    decoder.decode(info, payload.data(), out.data());
    return KVC_OK;
  } catch (const Error& e) {
    return e.code();
  }
}

TEST(EntropyZstd, ShuffleAndUnshuffleAreInversesForEveryWidth) {
  for (size_t width : {1u, 2u, 3u, 4u, 8u}) {
    for (size_t n : {0u, 1u, 7u, 1000u}) {
      const std::vector<unsigned char> src = random_bytes(n * width, static_cast<uint32_t>(n));
      std::vector<unsigned char> planes(src.size()), back(src.size());
      shuffle_bytes(src.data(), n, width, planes.data());
      for (size_t i = 0; i < n; ++i) {
        for (size_t b = 0; b < width; ++b) ASSERT_EQ(planes[b * n + i], src[i * width + b]);
      }
      unshuffle_bytes(planes.data(), n, width, back.data());
      EXPECT_EQ(back, src) << "width " << width << " n " << n;
    }
  }
}

TEST(EntropyZstd, LevelZeroStoresTheBytesAsTheyAre) {
  SectionEncoder encoder;
  const std::vector<unsigned char> raw = smooth_halves(4000, 1);
  std::vector<unsigned char> payload = {1, 2, 3};  // appended after what is there
  const SectionInfo info =
      encoder.append(SectionKind::Scales, raw.data(), raw.size(), 2, 0, ShuffleMode::On, payload);
  EXPECT_EQ(info.kind, SectionKind::Scales);
  EXPECT_EQ(info.encoding, SectionEncoding::Stored);
  EXPECT_EQ(info.shuffle_width, 0);
  EXPECT_EQ(info.raw_bytes, raw.size());
  EXPECT_EQ(info.stored_bytes, raw.size());
  ASSERT_EQ(payload.size(), 3 + raw.size());
  EXPECT_TRUE(std::equal(raw.begin(), raw.end(), payload.begin() + 3));
}

TEST(EntropyZstd, IncompressibleBytesAreStoredAndNeverGrow) {
  SectionEncoder encoder;
  const std::vector<unsigned char> raw = random_bytes(10000, 2);
  for (ShuffleMode mode : {ShuffleMode::Auto, ShuffleMode::On, ShuffleMode::Off}) {
    std::vector<unsigned char> payload;
    const SectionInfo info =
        encoder.append(SectionKind::Codes, raw.data(), raw.size(), 4, 3, mode, payload);
    EXPECT_EQ(info.encoding, SectionEncoding::Stored);
    EXPECT_EQ(info.shuffle_width, 0);
    EXPECT_EQ(payload, raw);
  }
}

TEST(EntropyZstd, EveryModeRoundTripsAndOnlyShufflesWhenAllowed) {
  const std::vector<unsigned char> raw = smooth_halves(50000, 3);
  for (int level : {-7, 1, 3, 19}) {
    for (ShuffleMode mode : {ShuffleMode::Auto, ShuffleMode::On, ShuffleMode::Off}) {
      SectionEncoder encoder;
      std::vector<unsigned char> payload;
      const SectionInfo info =
          encoder.append(SectionKind::RawElements, raw.data(), raw.size(), 2, level, mode, payload);
      EXPECT_EQ(info.stored_bytes, payload.size());
      EXPECT_LE(info.stored_bytes, raw.size());
      if (mode == ShuffleMode::Off || info.encoding == SectionEncoding::Stored) {
        EXPECT_EQ(info.shuffle_width, 0);
      }
      if (level > 0) {  // the fast negative levels may not beat storing these bytes
        EXPECT_EQ(info.encoding, SectionEncoding::Zstd) << level;
        if (mode == ShuffleMode::On) EXPECT_EQ(info.shuffle_width, 2);
        if (mode == ShuffleMode::Auto) EXPECT_EQ(info.shuffle_width, 2) << "shuffling helps here";
      }
      expect_decodes_to(info, payload, raw);
    }
  }
}

TEST(EntropyZstd, SingleByteElementsAndEmptySectionsAreNeverShuffled) {
  SectionEncoder encoder;
  std::vector<unsigned char> raw(5000, 7);
  std::vector<unsigned char> payload;
  SectionInfo info =
      encoder.append(SectionKind::Codes, raw.data(), raw.size(), 1, 1, ShuffleMode::On, payload);
  EXPECT_EQ(info.shuffle_width, 0);
  EXPECT_EQ(info.encoding, SectionEncoding::Zstd);
  expect_decodes_to(info, payload, raw);
  payload.clear();
  info = encoder.append(SectionKind::RecentElements, nullptr, 0, 2, 1, ShuffleMode::On, payload);
  EXPECT_EQ(info.raw_bytes, 0u);
  EXPECT_EQ(info.stored_bytes, 0u);
  EXPECT_TRUE(payload.empty());
  expect_decodes_to(info, payload, {});
}

TEST(EntropyZstd, DamagedSectionsAreCorruptData) {
  const std::vector<unsigned char> raw = smooth_halves(20000, 4);
  SectionEncoder encoder;
  std::vector<unsigned char> payload;
  const SectionInfo info =
      encoder.append(SectionKind::Scales, raw.data(), raw.size(), 2, 1, ShuffleMode::On, payload);
  ASSERT_EQ(info.encoding, SectionEncoding::Zstd);
  ASSERT_EQ(decode_status(info, payload), KVC_OK);

  SectionInfo wrong = info;
  wrong.raw_bytes += 2;  // the frame declares another size
  EXPECT_EQ(decode_status(wrong, payload), KVC_ERR_CORRUPT_DATA);
  wrong = info;
  wrong.shuffle_width = 3;
  EXPECT_EQ(decode_status(wrong, payload), KVC_ERR_CORRUPT_DATA);
  wrong = info;
  wrong.shuffle_width = 4;  // 40000 is a multiple of 4, but the frame still decodes: no error
  EXPECT_EQ(decode_status(wrong, payload), KVC_OK);
  wrong = info;
  wrong.encoding = static_cast<SectionEncoding>(2);
  EXPECT_EQ(decode_status(wrong, payload), KVC_ERR_CORRUPT_DATA);
  wrong = info;
  wrong.encoding = SectionEncoding::Stored;  // stored sizes must agree
  EXPECT_EQ(decode_status(wrong, payload), KVC_ERR_CORRUPT_DATA);
  wrong = info;
  wrong.stored_bytes -= 1;  // a truncated frame
  EXPECT_EQ(decode_status(wrong, payload), KVC_ERR_CORRUPT_DATA);

  // Damaged frame bytes: Zstandard errors (the payload checksum normally catches these first).
  size_t rejected = 0;
  for (size_t i = 0; i < payload.size(); i += 7) {
    std::vector<unsigned char> damaged = payload;
    damaged[i] ^= 0x55;
    const kvc_status st = decode_status(info, damaged);
    EXPECT_TRUE(st == KVC_OK || st == KVC_ERR_CORRUPT_DATA) << st;
    rejected += st == KVC_ERR_CORRUPT_DATA;
  }
  EXPECT_GT(rejected, 0u);
}

}  // namespace
}  // namespace kvc
