// corruption_sweep_test.cpp: every single-bit flip, truncation, byte set to 00/FF and random
// splices of small blobs of several codec settings: each is detected or decodes to the original
// bytes; none decodes silently wrong. Prints the counts.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "codecs/cache_codec.h"
#include "core/error.h"
#include "unit/codec_helpers.h"
#include "unit/test_data.h"

namespace kvc {
namespace {

using test::PackedCache;

// Every byte is flipped and filled; sanitizer builds, ten times slower, take every third byte
// (truncations and splices stay complete): the release build runs the full sweep.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr size_t kByteStride = 3;
#else
constexpr size_t kByteStride = 1;
#endif

struct Counts {
  uint64_t tried = 0, detected = 0, identical = 0, silently_wrong = 0;
  std::map<kvc_status, uint64_t> by_status;

  void add(const Counts& o) {
    tried += o.tried;
    detected += o.detected;
    identical += o.identical;
    silently_wrong += o.silently_wrong;
    for (const auto& [k, v] : o.by_status) by_status[k] += v;
  }
};

// Decodes a mutated blob with one reused codec and classifies the outcome.
class Sweeper {
 public:
  explicit Sweeper(const std::vector<unsigned char>& original)
      : original_(original), expected_(test::decompress(original)) {}

  void attempt(const std::vector<unsigned char>& blob, Counts& c, const char* what, size_t at) {
    ++c.tried;
    keys_.assign(expected_.keys.size(), 0xCD);
    values_.assign(expected_.values.size(), 0xCD);
    try {
      const auto r = codec_.decompress(blob.data(), blob.size(), DecodeRange{}, KVC_DTYPE_AS_STORED,
                                       false, keys_.data(), values_.data(), keys_.size());
      if (r.fits && keys_ == expected_.keys && values_ == expected_.values) {
        ++c.identical;
        return;
      }
      if (!r.fits) {  // a changed header: refused before any output, as a size error
        ++c.detected;
        ++c.by_status[KVC_ERR_BUFFER_TOO_SMALL];
        return;
      }
      ++c.silently_wrong;
      ADD_FAILURE() << what << " at " << at << " decoded silently wrong";
    } catch (const Error& e) {
      ++c.detected;
      ++c.by_status[e.code()];
      EXPECT_NE(e.code(), KVC_ERR_INTERNAL) << what << " at " << at << ": " << e.what();
    }
  }

  const std::vector<unsigned char>& original() const { return original_; }

 private:
  std::vector<unsigned char> original_;
  PackedCache expected_;
  CacheCodec codec_{cpu_backend()};
  std::vector<unsigned char> keys_, values_;
};

struct SweepSetting {
  const char* name;
  int key_bits, value_bits;
  uint32_t group, recent;
  int zstd_level;
  ShuffleMode shuffle;
  DType dtype;
};

void print(const char* label, const Counts& c) {
  std::printf("[ sweep    ] %-28s tried %7llu detected %7llu identical %5llu silently wrong %llu\n",
              label, static_cast<unsigned long long>(c.tried),
              static_cast<unsigned long long>(c.detected),
              static_cast<unsigned long long>(c.identical),
              static_cast<unsigned long long>(c.silently_wrong));
}

TEST(CorruptionSweep, EveryFlipTruncationFillAndSpliceIsDetectedOrHarmless) {
  const SweepSetting settings[] = {
      {"k2v2 zstd1 auto f16", 2, 2, 32, 0, 1, ShuffleMode::Auto, DType::F16},
      {"k4v4 stored bf16", 4, 4, 64, 5, 0, ShuffleMode::Off, DType::BF16},
      {"k8v8 zstd3 shuffle f32", 8, 8, 32, 3, 3, ShuffleMode::On, DType::F32},
      {"k16v16 zstd1 shuffle f16", 16, 16, 32, 0, 1, ShuffleMode::On, DType::F16},
      {"k16v16 stored f16", 16, 16, 32, 0, 0, ShuffleMode::Off, DType::F16},
      {"k3v8 zstd1 off f16", 3, 8, 128, 2, 1, ShuffleMode::Off, DType::F16},
  };
  std::mt19937_64 rng(20261123);
  Counts flips, truncations, fills, splices;
  std::vector<std::vector<unsigned char>> blobs;
  for (const SweepSetting& s : settings) {
    CompressSettings cs;
    cs.key_bits = s.key_bits;
    cs.value_bits = s.value_bits;
    cs.group_size = s.group;
    cs.recent_tokens = s.recent;
    cs.zstd_level = s.zstd_level;
    cs.shuffle = s.shuffle;
    blobs.push_back(
        test::compress(test::pack(kvc_test::make_gaussian_cache(2, 1, 24, 32, 7), s.dtype), cs));
  }
  for (size_t b = 0; b < blobs.size(); ++b) {
    SCOPED_TRACE(settings[b].name);
    Sweeper sweeper(blobs[b]);
    const std::vector<unsigned char>& blob = sweeper.original();
    Counts f, t, z, sp;
    std::vector<unsigned char> m = blob;
    for (size_t i = 0; i < blob.size(); i += kByteStride) {
      for (int bit = 0; bit < 8; ++bit) {
        m[i] ^= static_cast<unsigned char>(1u << bit);
        sweeper.attempt(m, f, "bit flip", i * 8 + bit);
        m[i] = blob[i];
      }
      for (unsigned char fill : {0x00, 0xFF}) {
        if (blob[i] == fill) continue;
        m[i] = fill;
        sweeper.attempt(m, z, "byte fill", i);
        m[i] = blob[i];
      }
    }
    for (size_t n = 0; n < blob.size(); ++n) {
      sweeper.attempt(std::vector<unsigned char>(blob.begin(), blob.begin() + n), t, "truncation",
                      n);
    }
    // Splices: a random range of another blob (or this one) overwrites or is inserted at a
    // random place.
    for (int k = 0; k < 400; ++k) {
      const std::vector<unsigned char>& donor = blobs[rng() % blobs.size()];
      const size_t from = rng() % donor.size();
      const size_t len = 1 + rng() % std::min<size_t>(64, donor.size() - from);
      const size_t at = rng() % blob.size();
      std::vector<unsigned char> s = blob;
      if (k % 2 == 0) {
        for (size_t j = 0; j < len && at + j < s.size(); ++j) s[at + j] = donor[from + j];
      } else {
        s.insert(s.begin() + at, donor.begin() + from, donor.begin() + from + len);
      }
      sweeper.attempt(s, sp, "splice", at);
    }
    print((std::string(settings[b].name) + " flips").c_str(), f);
    flips.add(f);
    truncations.add(t);
    fills.add(z);
    splices.add(sp);
  }
  print("all bit flips", flips);
  print("all truncations", truncations);
  print("all 00/FF fills", fills);
  print("all splices", splices);
  Counts total;
  for (const Counts* c : {&flips, &truncations, &fills, &splices}) total.add(*c);
  print("total", total);
  std::printf("[ sweep    ] flips and fills at every %zu byte(s)\n", kByteStride);
  for (const auto& [status, n] : total.by_status) {
    std::printf("[ sweep    ] detected as status %d: %llu\n", status,
                static_cast<unsigned long long>(n));
  }
  EXPECT_EQ(total.silently_wrong, 0u);
  EXPECT_GT(total.detected, 0u);
  EXPECT_EQ(total.tried, total.detected + total.identical + total.silently_wrong);
}

}  // namespace
}  // namespace kvc
