// header_fields.h: the decoded contents of a .kvc Header and Chunk message, as the core uses them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/cache_view.h"
#include "format/chunk_encoding.h"

namespace kvc::format {

enum class TensorKind : uint8_t { Key = 0, Value = 1 };

struct HeaderFields {
  uint32_t format_major = 0;
  uint32_t format_minor = 0;
  std::string producer;
  CacheDims dims;
  int key_bits = 4;
  int value_bits = 4;
  uint32_t group_size = 64;
  uint32_t recent_tokens = 0;
  int zstd_level = 1;
  int byte_shuffle = 0;
  std::string model_name;
  // Token selection (format 1.1); 1.0 files read as no selection.
  int selection = 0;  // KVC_SELECT_*
  bool per_head = false;
  float attention_threshold = 0.0f;
  uint32_t sliding_window = 0;
};

// One entry of the footer's chunk index (mirrors kvc.format.ChunkRef).
struct ChunkIndexEntry {
  uint64_t offset;            // of the chunk's size prefix from the start of the blob
  uint64_t message_checksum;  // XXH3-64 of the chunk message, size prefix included
  uint32_t layer;
  TensorKind tensor;
};

// One chunk as read from a blob: its message fields and where its payload lies.
struct ChunkRecord {
  uint32_t layer = 0;
  TensorKind tensor = TensorKind::Key;
  uint32_t token_begin = 0;
  uint32_t token_count = 0;
  ChunkEncoding encoding;
  // Source positions of the tokens held (ascending; one row, or one per head when the header
  // says per_head); empty when the chunk holds [token_begin, token_begin + token_count).
  std::vector<uint32_t> positions;
  const unsigned char* payload = nullptr;
  uint64_t payload_bytes = 0;
};

}  // namespace kvc::format
