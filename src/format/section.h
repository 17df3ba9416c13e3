// section.h: the description of one section of a chunk payload (mirrors kvc.format.Section).
#pragma once

#include <cstdint>

namespace kvc {

enum class SectionKind : uint8_t {
  RawElements = 0,
  Codes = 1,
  Scales = 2,
  Zeros = 3,
  RecentElements = 4,
};

enum class SectionEncoding : uint8_t { Stored = 0, Zstd = 1 };

struct SectionInfo {
  SectionKind kind = SectionKind::RawElements;
  SectionEncoding encoding = SectionEncoding::Stored;
  uint8_t shuffle_width = 0;  // 0, or the element width whose byte planes were split
  uint64_t raw_bytes = 0;
  uint64_t stored_bytes = 0;
};

}  // namespace kvc
