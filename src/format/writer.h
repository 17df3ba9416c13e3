// writer.h: writes a .kvc stream (preamble, Header, Chunks with payloads, Footer, trailer).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/checksum.h"
#include "format/header_fields.h"

namespace kvc::format {

// Writes into a caller buffer while it fits and counts bytes regardless, so a caller whose
// buffer was too small learns the size needed from finish().
class StreamWriter {
 public:
  StreamWriter(unsigned char* dst, size_t capacity) : dst_(dst), capacity_(capacity) {}

  void write_header(const HeaderFields& header);
  // positions: the kept tokens' source positions (ascending rows), or empty for
  // [token_begin, token_begin + token_count).
  void write_chunk(uint32_t layer, TensorKind tensor, uint32_t token_begin, uint32_t token_count,
                   const std::vector<uint32_t>& positions, const ChunkEncoding& encoding,
                   const unsigned char* payload, size_t payload_bytes);
  // Writes footer and trailer; returns the total size of the blob.
  size_t finish();
  bool fits() const { return size_ <= capacity_; }

 private:
  void put(const void* data, size_t n);  // copies when it fits, checksums the content

  unsigned char* dst_;
  size_t capacity_;
  size_t size_ = 0;
  uint64_t header_checksum_ = 0;
  StreamingChecksum content_;
  std::vector<ChunkIndexEntry> refs_;
};

}  // namespace kvc::format
