// chunk_encoding.h: how one chunk of a .kvc blob was coded (codec, bits, groups, sections): what
// its message records, shared by the format's reader and writer and the codecs that fill it.
#pragma once

#include <cstdint>
#include <vector>

#include "backend/backend.h"
#include "format/section.h"

namespace kvc {

enum class Codec : uint8_t { Raw = 0, Groupwise = 1 };

constexpr int kLosslessBits = 16;

// How a chunk was coded: what its message records.
struct ChunkEncoding {
  Codec codec = Codec::Raw;
  int bits = kLosslessBits;
  uint32_t group_size = 0;
  GroupAxis axis = GroupAxis::Tokens;
  uint32_t quantized_tokens = 0;
  SideDType side = SideDType::F16;
  std::vector<SectionInfo> sections;
};

}  // namespace kvc
