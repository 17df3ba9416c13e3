// writer.cpp: writes a .kvc stream (preamble, Header, Chunks with payloads, Footer, trailer).
#include "format/writer.h"

#include <kvc/kvc.h>

#include <cstring>

#include "format/layout.h"
#include "kvc_generated.h"

namespace kvc::format {

void StreamWriter::put(const void* data, size_t n) {
  if (n == 0) return;
  // Checksummed also when it does not fit: a footer with a zero checksum would be smaller (the
  // field is left out), and the size reported for a too-small buffer would then be too small.
  content_.update(data, n);
  if (size_ + n <= capacity_) std::memcpy(dst_ + size_, data, n);
  size_ += n;
}

void StreamWriter::write_header(const HeaderFields& h) {
  unsigned char preamble[kPreambleBytes];
  std::memcpy(preamble, kMagic, 4);
  store_u16(preamble + 4, KVC_FORMAT_MAJOR);
  store_u16(preamble + 6, KVC_FORMAT_MINOR);
  put(preamble, sizeof preamble);

  flatbuffers::FlatBufferBuilder fbb(1024);
  auto producer = fbb.CreateString(h.producer);
  auto model_name = h.model_name.empty() ? 0 : fbb.CreateString(h.model_name);
  auto header = CreateHeader(
      fbb, producer, h.dims.num_layers, h.dims.num_kv_heads, h.dims.num_tokens, h.dims.head_dim,
      static_cast<DType>(h.dims.dtype), static_cast<uint8_t>(h.key_bits),
      static_cast<uint8_t>(h.value_bits), static_cast<uint16_t>(h.group_size), h.recent_tokens,
      h.zstd_level, static_cast<uint8_t>(h.byte_shuffle), model_name,
      static_cast<uint8_t>(h.selection), h.per_head, h.attention_threshold, h.sliding_window);
  fbb.FinishSizePrefixed(CreateMessage(fbb, Body::Header, header.Union()), MessageIdentifier());
  header_checksum_ = checksum(fbb.GetBufferPointer(), fbb.GetSize());
  put(fbb.GetBufferPointer(), fbb.GetSize());
}

void StreamWriter::write_chunk(uint32_t layer, TensorKind tensor, uint32_t token_begin,
                               uint32_t token_count, const std::vector<uint32_t>& positions,
                               const ChunkEncoding& e, const unsigned char* payload,
                               size_t payload_bytes) {
  flatbuffers::FlatBufferBuilder fbb(512 + 4 * positions.size());
  auto position_vector = positions.empty() ? 0 : fbb.CreateVector(positions);
  std::vector<flatbuffers::Offset<Section>> sections;
  for (const SectionInfo& s : e.sections) {
    sections.push_back(CreateSection(fbb, static_cast<kvc::format::SectionKind>(s.kind),
                                     static_cast<Encoding>(s.encoding), s.shuffle_width,
                                     s.raw_bytes, s.stored_bytes));
  }
  auto section_vector = fbb.CreateVector(sections);
  auto chunk =
      CreateChunk(fbb, layer, static_cast<Tensor>(tensor), token_begin, token_count,
                  static_cast<kvc::format::Codec>(e.codec), static_cast<uint8_t>(e.bits),
                  static_cast<uint16_t>(e.group_size), static_cast<kvc::format::GroupAxis>(e.axis),
                  e.quantized_tokens, static_cast<kvc::format::SideDType>(e.side), section_vector,
                  payload_bytes, checksum(payload, payload_bytes), position_vector);
  fbb.FinishSizePrefixed(CreateMessage(fbb, Body::Chunk, chunk.Union()), MessageIdentifier());
  refs_.push_back({size_, checksum(fbb.GetBufferPointer(), fbb.GetSize()), layer, tensor});
  put(fbb.GetBufferPointer(), fbb.GetSize());
  put(payload, payload_bytes);
}

size_t StreamWriter::finish() {
  flatbuffers::FlatBufferBuilder fbb(64 + 32 * refs_.size());
  std::vector<ChunkRef> refs;
  refs.reserve(refs_.size());
  for (const ChunkIndexEntry& r : refs_) {
    refs.emplace_back(r.offset, r.message_checksum, r.layer, static_cast<Tensor>(r.tensor));
  }
  auto footer =
      CreateFooter(fbb, fbb.CreateVectorOfStructs(refs), header_checksum_, content_.digest());
  fbb.FinishSizePrefixed(CreateMessage(fbb, Body::Footer, footer.Union()), MessageIdentifier());
  const uint64_t footer_offset = size_;
  const uint64_t footer_checksum = checksum(fbb.GetBufferPointer(), fbb.GetSize());
  put(fbb.GetBufferPointer(), fbb.GetSize());
  unsigned char trailer[kTrailerBytes];
  store_u64(trailer, footer_offset);
  store_u64(trailer + 8, footer_checksum);
  std::memcpy(trailer + 16, kEndMagic, 8);
  put(trailer, sizeof trailer);
  return size_;
}

}  // namespace kvc::format
