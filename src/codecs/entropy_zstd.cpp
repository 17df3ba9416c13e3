// entropy_zstd.cpp: byte-plane shuffling and Zstandard coding of payload sections.
#include "codecs/entropy_zstd.h"

#include <algorithm>
#include <cstring>
#include <new>
#include <string>

#include "core/error.h"

namespace kvc {
namespace {

constexpr size_t kShuffleTrialBytes = 64 * 1024;  // sample used to decide on shuffling

// Zstandard's working memory comes from operator new like the rest of the library, so an
// application's allocator (and a failing allocation) sees it too.
void* zstd_alloc(void*, size_t size) { return ::operator new(size, std::nothrow); }
void zstd_free(void*, void* address) { ::operator delete(address); }
constexpr ZSTD_customMem kZstdMemory = {zstd_alloc, zstd_free, nullptr};

}  // namespace

void shuffle_bytes(const unsigned char* src, size_t n, size_t width, unsigned char* dst) {
  if (width == 2) {
    for (size_t i = 0; i < n; ++i) {
      dst[i] = src[2 * i];
      dst[n + i] = src[2 * i + 1];
    }
    return;
  }
  for (size_t b = 0; b < width; ++b) {
    for (size_t i = 0; i < n; ++i) dst[b * n + i] = src[i * width + b];
  }
}

void unshuffle_bytes(const unsigned char* src, size_t n, size_t width, unsigned char* dst) {
  if (width == 2) {
    for (size_t i = 0; i < n; ++i) {
      dst[2 * i] = src[i];
      dst[2 * i + 1] = src[n + i];
    }
    return;
  }
  for (size_t b = 0; b < width; ++b) {
    for (size_t i = 0; i < n; ++i) dst[i * width + b] = src[b * n + i];
  }
}

SectionEncoder::SectionEncoder() : cctx_(ZSTD_createCCtx_advanced(kZstdMemory)) {
  if (cctx_ == nullptr) throw std::bad_alloc();
}

SectionEncoder::~SectionEncoder() { ZSTD_freeCCtx(cctx_); }

size_t SectionEncoder::compress_into(const unsigned char* src, size_t n, int level,
                                     unsigned char* dst, size_t capacity) {
  ZSTD_CCtx_reset(cctx_, ZSTD_reset_session_and_parameters);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 0);  // XXH3 of the payload covers it
  ZSTD_CCtx_setParameter(cctx_, ZSTD_c_contentSizeFlag, 1);
  const size_t written = ZSTD_compress2(cctx_, dst, capacity, src, n);
  if (ZSTD_isError(written)) {
    if (ZSTD_getErrorCode(written) == ZSTD_error_dstSize_tooSmall) return SIZE_MAX;
    if (ZSTD_getErrorCode(written) == ZSTD_error_memory_allocation) throw std::bad_alloc();
    throw Error(KVC_ERR_INTERNAL, std::string("ZSTD_compress2: ") + ZSTD_getErrorName(written));
  }
  return written;
}

SectionInfo SectionEncoder::append(SectionKind kind, const void* raw, size_t raw_bytes,
                                   size_t element_width, int level, ShuffleMode shuffle,
                                   std::vector<unsigned char>& payload) {
  SectionInfo info;
  info.kind = kind;
  info.raw_bytes = raw_bytes;
  const unsigned char* src = static_cast<const unsigned char*>(raw);
  const size_t start = payload.size();
  const bool can_shuffle =
      level != 0 && element_width > 1 && raw_bytes % element_width == 0 && raw_bytes > 0;
  bool use_shuffle = can_shuffle && shuffle == ShuffleMode::On;
  if (can_shuffle && shuffle == ShuffleMode::Auto) {
    // Compress a leading sample both ways and keep the smaller.
    const size_t sample = std::min(raw_bytes, kShuffleTrialBytes) / element_width * element_width;
    if (sample == raw_bytes) {
      // The sample is the whole section: compress it both ways exactly as the final pass would
      // (room for raw_bytes - 1 bytes, so Zstandard frames it the same way) and keep the winner,
      // instead of compressing the same bytes a third time.
      trial_.resize(3 * raw_bytes);
      unsigned char* plain_out = trial_.data();
      unsigned char* planes_out = trial_.data() + raw_bytes;
      unsigned char* shuffled = trial_.data() + 2 * raw_bytes;
      shuffle_bytes(src, raw_bytes / element_width, element_width, shuffled);
      const size_t plain = compress_into(src, raw_bytes, level, plain_out, raw_bytes - 1);
      const size_t planes = compress_into(shuffled, raw_bytes, level, planes_out, raw_bytes - 1);
      if (plain != SIZE_MAX || planes != SIZE_MAX) {
        const bool shuffled_wins = planes < plain;
        const size_t written = shuffled_wins ? planes : plain;
        payload.resize(start + written);
        std::memcpy(payload.data() + start, shuffled_wins ? planes_out : plain_out, written);
        info.encoding = SectionEncoding::Zstd;
        info.stored_bytes = written;
        info.shuffle_width = shuffled_wins ? static_cast<uint8_t>(element_width) : 0;
        return info;
      }
      level = 0;  // neither fits in fewer bytes than the section: stored below
    } else {
      const size_t bound = ZSTD_compressBound(sample);
      trial_.resize(bound + sample);
      unsigned char* shuffled_sample = trial_.data() + bound;
      shuffle_bytes(src, sample / element_width, element_width, shuffled_sample);
      const size_t plain = compress_into(src, sample, level, trial_.data(), bound);
      const size_t planes = compress_into(shuffled_sample, sample, level, trial_.data(), bound);
      use_shuffle = planes < plain;
    }
  }
  if (use_shuffle) {
    shuffled_.resize(raw_bytes);
    shuffle_bytes(src, raw_bytes / element_width, element_width, shuffled_.data());
    src = shuffled_.data();
    info.shuffle_width = static_cast<uint8_t>(element_width);
  }
  if (level != 0 && raw_bytes > 0) {
    // Zstandard only when it saves bytes: give it at most raw_bytes - 1 of room.
    payload.resize(start + raw_bytes);
    const size_t written =
        compress_into(src, raw_bytes, level, payload.data() + start, raw_bytes - 1);
    if (written != SIZE_MAX) {
      payload.resize(start + written);
      info.encoding = SectionEncoding::Zstd;
      info.stored_bytes = written;
      return info;
    }
  }
  // Stored: unshuffled, since shuffling only helps a later entropy coder.
  info.shuffle_width = 0;
  payload.resize(start + raw_bytes);
  if (raw_bytes) std::memcpy(payload.data() + start, raw, raw_bytes);
  info.encoding = SectionEncoding::Stored;
  info.stored_bytes = raw_bytes;
  return info;
}

SectionDecoder::SectionDecoder() : dctx_(ZSTD_createDCtx_advanced(kZstdMemory)) {
  if (dctx_ == nullptr) throw std::bad_alloc();
}

SectionDecoder::~SectionDecoder() { ZSTD_freeDCtx(dctx_); }

void SectionDecoder::decode(const SectionInfo& info, const unsigned char* src, unsigned char* dst) {
  const size_t width = info.shuffle_width;
  if (width != 0) {
    require_intact(width == 2 || width == 4,
                   "section shuffle_width " + std::to_string(width) + " is not 0, 2 or 4");
    require_intact(info.raw_bytes % width == 0,
                   "shuffled section size is not a multiple of " + std::to_string(width));
  }
  unsigned char* target = dst;
  if (width != 0) {
    scratch_.resize(info.raw_bytes);
    target = scratch_.data();
  }
  if (info.encoding == SectionEncoding::Stored) {
    require_intact(info.stored_bytes == info.raw_bytes,
                   "stored section of " + std::to_string(info.stored_bytes) + " bytes declares " +
                       std::to_string(info.raw_bytes) + " raw bytes");
    if (info.raw_bytes) std::memcpy(target, src, info.raw_bytes);
  } else if (info.encoding == SectionEncoding::Zstd) {
    const unsigned long long declared = ZSTD_getFrameContentSize(src, info.stored_bytes);
    require_intact(declared == info.raw_bytes, "zstd frame size does not match the section");
    const size_t got = ZSTD_decompressDCtx(dctx_, target, info.raw_bytes, src, info.stored_bytes);
    if (ZSTD_isError(got) && ZSTD_getErrorCode(got) == ZSTD_error_memory_allocation) {
      throw std::bad_alloc();
    }
    require_intact(!ZSTD_isError(got) && got == info.raw_bytes,
                   std::string("zstd frame does not decode: ") +
                       (ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size"));
  } else {
    throw Error(KVC_ERR_CORRUPT_DATA,
                "unknown section encoding " + std::to_string(static_cast<int>(info.encoding)));
  }
  if (width != 0) unshuffle_bytes(target, info.raw_bytes / width, width, dst);
}

}  // namespace kvc
