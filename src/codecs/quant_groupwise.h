// quant_groupwise.h: 2/3/4/8-bit group quantization (keys per channel, values per token) with a
// full-precision recent window, or lossless storage (bits 16); one tensor to payload sections.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "codecs/entropy_zstd.h"
#include "core/cache_view.h"
#include "format/chunk_encoding.h"
#include "format/section.h"

namespace kvc {

// Settings for one tensor (all of a layer's keys, or all of its values).
struct TensorCodecParams {
  int bits = 4;              // 2, 3, 4, 8, or 16 = lossless
  uint32_t group_size = 64;  // 32, 64 or 128
  GroupAxis axis = GroupAxis::Tokens;
  uint32_t recent_tokens = 0;
  int zstd_level = 1;
  ShuffleMode shuffle = ShuffleMode::Auto;
};

// Group size as used for a tensor: per-token groups never run past the end of a row.
uint32_t effective_group_size(const TensorCodecParams& p, uint32_t head_dim);

// The geometry of the quantized part of a chunk.
QuantGeometry quant_geometry(const ChunkEncoding& e, uint32_t heads, uint32_t head_dim);

// The sections (kind and raw size) a chunk of this encoding must have, in payload order.
std::vector<SectionInfo> expected_sections(const ChunkEncoding& e, uint32_t heads, uint32_t tokens,
                                           uint32_t head_dim, DType dtype);

class TensorEncoder {
 public:
  explicit TensorEncoder(const Backend& backend) : backend_(backend) {}

  // Encodes tensor [heads][tokens][head_dim] and appends its sections to payload.
  // label names the tensor in errors ("layer 3 keys").
  ChunkEncoding encode(const TensorView& input, uint32_t heads, uint32_t tokens, uint32_t head_dim,
                       const TensorCodecParams& params, std::vector<unsigned char>& payload,
                       const std::string& label);

 private:
  void gather(const TensorView& input, uint32_t heads, uint32_t token_begin, uint32_t tokens,
              uint32_t head_dim);  // packs rows into raw_
  const Backend& backend_;
  SectionEncoder sections_;
  std::vector<unsigned char> codes_, scales_, zeros_, raw_;
};

class TensorDecoder {
 public:
  explicit TensorDecoder(const Backend& backend) : backend_(backend) {}

  // Decodes a chunk's payload (already checksummed) into packed [heads][tokens][head_dim] of
  // output_dtype at output. Sections must match expected_sections(); else CORRUPT_DATA.
  void decode(const ChunkEncoding& encoding, uint32_t heads, uint32_t tokens, uint32_t head_dim,
              DType stored_dtype, const unsigned char* payload, uint64_t payload_bytes,
              void* output, DType output_dtype);

 private:
  const Backend& backend_;
  SectionDecoder sections_;
  std::vector<unsigned char> codes_, scales_, zeros_, raw_;
};

}  // namespace kvc
