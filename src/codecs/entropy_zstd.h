// entropy_zstd.h: the entropy stage: byte-plane shuffling and Zstandard, one section at a time.
#pragma once

#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_customMem: Zstandard allocates through operator new
#include <zstd.h>
#include <zstd_errors.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/section.h"

namespace kvc {

enum class ShuffleMode : int32_t { Auto = 0, Off = 1, On = 2 };

// Splits n elements of width bytes into width byte planes (plane b holds byte b of each).
void shuffle_bytes(const unsigned char* src, size_t n, size_t width, unsigned char* dst);
void unshuffle_bytes(const unsigned char* src, size_t n, size_t width, unsigned char* dst);

// Reusable compressor: owns a ZSTD_CCtx and scratch space. One thread at a time.
class SectionEncoder {
 public:
  SectionEncoder();
  ~SectionEncoder();
  SectionEncoder(const SectionEncoder&) = delete;
  SectionEncoder& operator=(const SectionEncoder&) = delete;

  // Appends raw (raw_bytes, elements of element_width bytes) to payload as one section:
  // shuffled when shuffle says so and it helps, Zstandard-coded at level when that is smaller,
  // stored otherwise. level 0 disables Zstandard.
  SectionInfo append(SectionKind kind, const void* raw, size_t raw_bytes, size_t element_width,
                     int level, ShuffleMode shuffle, std::vector<unsigned char>& payload);

 private:
  size_t compress_into(const unsigned char* src, size_t n, int level, unsigned char* dst,
                       size_t capacity);
  ZSTD_CCtx* cctx_;
  std::vector<unsigned char> shuffled_;
  std::vector<unsigned char> trial_;
};

// Reusable decompressor: owns a ZSTD_DCtx and scratch space. One thread at a time.
class SectionDecoder {
 public:
  SectionDecoder();
  ~SectionDecoder();
  SectionDecoder(const SectionDecoder&) = delete;
  SectionDecoder& operator=(const SectionDecoder&) = delete;

  // Decodes one section (stored bytes at src) into dst, which holds exactly info.raw_bytes.
  // Throws Error(KVC_ERR_CORRUPT_DATA) when the bytes do not decode to exactly that size.
  void decode(const SectionInfo& info, const unsigned char* src, unsigned char* dst);

 private:
  ZSTD_DCtx* dctx_;
  std::vector<unsigned char> scratch_;
};

}  // namespace kvc
