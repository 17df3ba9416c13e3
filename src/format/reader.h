// reader.h: reads a .kvc blob: preamble and version, trailer, footer index, header and chunks,
// each message verified (FlatBuffers verifier, checksums, bounds) before use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "format/header_fields.h"

namespace kvc::format {

class BlobReader {
 public:
  // Checks preamble, version, trailer, footer and header; throws kvc::Error
  // (KVC_ERR_CORRUPT_DATA or KVC_ERR_UNSUPPORTED_VERSION) when any is wrong.
  BlobReader(const void* data, size_t size);

  const HeaderFields& header() const { return header_; }
  size_t chunk_count() const { return refs_.size(); }
  // Index of the chunk holding a layer's keys or values.
  size_t chunk_index(uint32_t layer, TensorKind tensor) const {
    return size_t{layer} * 2 + static_cast<size_t>(tensor);
  }
  // Reads and verifies one chunk (message checksum, verifier, fields, and unless check_payload
  // is false the payload checksum: callers that only want the message fields skip it).
  ChunkRecord read_chunk(size_t index, bool check_payload = true) const;
  // Checks the checksum of everything before the footer.
  void verify_content() const;
  // verify_content(), then reads and checks every chunk.
  void verify_all() const;
  size_t size() const { return size_; }

 private:
  const unsigned char* data_;
  size_t size_;
  uint64_t footer_offset_ = 0;
  uint64_t content_checksum_ = 0;
  uint64_t header_end_ = 0;
  HeaderFields header_;
  std::vector<ChunkIndexEntry> refs_;
};

}  // namespace kvc::format
