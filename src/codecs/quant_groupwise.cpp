// quant_groupwise.cpp: 2/3/4/8-bit group quantization (keys per channel, values per token) with a
// full-precision recent window, or lossless storage (bits 16); one tensor to payload sections.
#include "codecs/quant_groupwise.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace kvc {
namespace {

size_t side_size(SideDType s) { return s == SideDType::F16 ? 2 : 4; }

// Whether the largest code of every group decodes (z + (2^bits - 1) * s, in float32, as the
// decoder computes it) to a finite value of dtype. Scales rounded up to binary16 can carry the
// top of a group whose maximum lies near float16's largest value (65504) past 65520, which rounds
// to infinity; float32 scales overshoot far less.
bool top_codes_finite(const void* scales, const void* zeros, SideDType side, uint64_t groups,
                      int bits, DType dtype) {
  const auto top = static_cast<float>((1u << bits) - 1u);
  for (uint64_t i = 0; i < groups; ++i) {
    const float scale = side == SideDType::F16 ? f16_to_f32(static_cast<const uint16_t*>(scales)[i])
                                               : static_cast<const float*>(scales)[i];
    const float zero = side == SideDType::F16 ? f16_to_f32(static_cast<const uint16_t*>(zeros)[i])
                                              : static_cast<const float*>(zeros)[i];
    const float product = top * scale;
    const float x = zero + product;
    const bool finite = dtype == DType::F16    ? (f32_to_f16(x) & 0x7C00u) != 0x7C00u
                        : dtype == DType::BF16 ? (f32_to_bf16(x) & 0x7F80u) != 0x7F80u
                                               : std::isfinite(x);
    if (!finite) return false;
  }
  return true;
}

}  // namespace

uint32_t effective_group_size(const TensorCodecParams& p, uint32_t head_dim) {
  return p.axis == GroupAxis::Channels ? std::min(p.group_size, head_dim) : p.group_size;
}

QuantGeometry quant_geometry(const ChunkEncoding& e, uint32_t heads, uint32_t head_dim) {
  QuantGeometry g;
  g.heads = heads;
  g.tokens = e.quantized_tokens;
  g.head_dim = head_dim;
  g.bits = e.bits;
  g.group_size = e.group_size;
  g.axis = e.axis;
  return g;
}

std::vector<SectionInfo> expected_sections(const ChunkEncoding& e, uint32_t heads, uint32_t tokens,
                                           uint32_t head_dim, DType dtype) {
  const uint64_t row_bytes = uint64_t{head_dim} * dtype_size(dtype);
  std::vector<SectionInfo> out;
  auto add = [&out](SectionKind kind, uint64_t bytes) {
    SectionInfo s;
    s.kind = kind;
    s.raw_bytes = bytes;
    out.push_back(s);
  };
  if (e.codec == Codec::Raw) {
    add(SectionKind::RawElements, uint64_t{heads} * tokens * row_bytes);
    return out;
  }
  const QuantGeometry g = quant_geometry(e, heads, head_dim);
  add(SectionKind::Codes, g.code_bytes());
  add(SectionKind::Scales, g.groups() * side_size(e.side));
  add(SectionKind::Zeros, g.groups() * side_size(e.side));
  add(SectionKind::RecentElements, uint64_t{heads} * (tokens - e.quantized_tokens) * row_bytes);
  return out;
}

void TensorEncoder::gather(const TensorView& input, uint32_t heads, uint32_t token_begin,
                           uint32_t tokens, uint32_t head_dim) {
  raw_.resize(size_t{heads} * tokens * head_dim * dtype_size(input.dtype));
  if (raw_.empty()) return;
  backend_.gather_rows(input, heads, token_begin, tokens, head_dim, raw_.data());
}

ChunkEncoding TensorEncoder::encode(const TensorView& input, uint32_t heads, uint32_t tokens,
                                    uint32_t head_dim, const TensorCodecParams& params,
                                    std::vector<unsigned char>& payload, const std::string& label) {
  ChunkEncoding e;
  const size_t elem = dtype_size(input.dtype);
  if (params.bits == kLosslessBits) {
    e.codec = Codec::Raw;
    e.bits = kLosslessBits;
    gather(input, heads, 0, tokens, head_dim);
    e.sections.push_back(sections_.append(SectionKind::RawElements, raw_.data(), raw_.size(), elem,
                                          params.zstd_level, params.shuffle, payload));
    return e;
  }
  e.codec = Codec::Groupwise;
  e.bits = params.bits;
  e.group_size = effective_group_size(params, head_dim);
  e.axis = params.axis;
  e.quantized_tokens = tokens - std::min(params.recent_tokens, tokens);
  const QuantGeometry g = quant_geometry(e, heads, head_dim);

  QuantizeJob job;
  job.geometry = g;
  job.input = input;
  codes_.resize(g.code_bytes());
  job.codes = codes_.data();
  QuantOutcome outcome = QuantOutcome::SideOverflow;
  for (SideDType side : {SideDType::F16, SideDType::F32}) {
    e.side = side;
    scales_.resize(g.groups() * side_size(side));
    zeros_.resize(g.groups() * side_size(side));
    job.side = side;
    job.scales = scales_.data();
    job.zeros = zeros_.data();
    outcome = backend_.quantize(job);
    if (outcome == QuantOutcome::Ok && side == SideDType::F16 &&
        !top_codes_finite(job.scales, job.zeros, side, g.groups(), e.bits, input.dtype)) {
      outcome = QuantOutcome::SideOverflow;  // float32 scales keep every code finite
    }
    if (outcome != QuantOutcome::SideOverflow) break;
  }
  if (outcome == QuantOutcome::NonFinite) {
    throw Error(KVC_ERR_INVALID_ARGUMENT,
                label + " hold a NaN or an infinity: " + std::to_string(params.bits) +
                    "-bit quantization needs finite input (bits 16 is lossless for any value)");
  }
  if (outcome == QuantOutcome::SideOverflow) {
    throw Error(KVC_ERR_INVALID_ARGUMENT, label + " exceed the range of float32 scales");
  }
  e.sections.push_back(sections_.append(SectionKind::Codes, codes_.data(), codes_.size(), 1,
                                        params.zstd_level, params.shuffle, payload));
  const size_t side = side_size(e.side);
  e.sections.push_back(sections_.append(SectionKind::Scales, scales_.data(), scales_.size(), side,
                                        params.zstd_level, params.shuffle, payload));
  e.sections.push_back(sections_.append(SectionKind::Zeros, zeros_.data(), zeros_.size(), side,
                                        params.zstd_level, params.shuffle, payload));
  gather(input, heads, e.quantized_tokens, tokens - e.quantized_tokens, head_dim);
  e.sections.push_back(sections_.append(SectionKind::RecentElements, raw_.data(), raw_.size(), elem,
                                        params.zstd_level, params.shuffle, payload));
  return e;
}

void TensorDecoder::decode(const ChunkEncoding& encoding, uint32_t heads, uint32_t tokens,
                           uint32_t head_dim, DType stored_dtype, const unsigned char* payload,
                           uint64_t payload_bytes, void* output, DType output_dtype) {
  const std::vector<SectionInfo> expected =
      expected_sections(encoding, heads, tokens, head_dim, stored_dtype);
  require_intact(encoding.sections.size() == expected.size(),
                 "chunk has " + std::to_string(encoding.sections.size()) + " sections, expected " +
                     std::to_string(expected.size()));
  uint64_t offset = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const SectionInfo& s = encoding.sections[i];
    require_intact(s.kind == expected[i].kind && s.raw_bytes == expected[i].raw_bytes,
                   "section " + std::to_string(i) + " has kind " +
                       std::to_string(static_cast<int>(s.kind)) + " and " +
                       std::to_string(s.raw_bytes) + " bytes, expected kind " +
                       std::to_string(static_cast<int>(expected[i].kind)) + " and " +
                       std::to_string(expected[i].raw_bytes));
    require_intact(s.stored_bytes <= payload_bytes - offset,
                   "section " + std::to_string(i) + " runs past the payload");
    offset += s.stored_bytes;
  }
  require_intact(offset == payload_bytes, "sections do not cover the payload exactly");

  const size_t out_elem = dtype_size(output_dtype);
  const size_t stored_elem = dtype_size(stored_dtype);
  const uint64_t row_elements = head_dim;
  auto decode_raw_rows = [&](const SectionInfo& s, const unsigned char* src, uint32_t token_begin,
                             uint32_t count) {
    // Rows [head][count][head_dim] in the stored dtype, placed at token_begin of each head.
    const unsigned char* rows = src;
    // Stored rows are converted in place only when aligned for their dtype: a payload may start
    // at any byte, and the kernels read uint16_t/float.
    const bool is_aligned = reinterpret_cast<uintptr_t>(src) % stored_elem == 0;
    if (s.encoding != SectionEncoding::Stored || s.shuffle_width != 0 || !is_aligned) {
      raw_.resize(s.raw_bytes);
      sections_.decode(s, src, raw_.data());
      rows = raw_.data();
    }
    unsigned char* out = static_cast<unsigned char*>(output);
    for (uint32_t h = 0; h < heads; ++h) {
      const unsigned char* from = rows + uint64_t{h} * count * row_elements * stored_elem;
      unsigned char* to = out + (uint64_t{h} * tokens + token_begin) * row_elements * out_elem;
      backend_.store(from, stored_dtype, to, output_dtype, uint64_t{count} * row_elements);
    }
  };

  if (encoding.codec == Codec::Raw) {
    decode_raw_rows(encoding.sections[0], payload, 0, tokens);
    return;
  }
  const unsigned char* src = payload;
  const SectionInfo* sec = encoding.sections.data();
  codes_.resize(sec[0].raw_bytes);
  sections_.decode(sec[0], src, codes_.data());
  src += sec[0].stored_bytes;
  scales_.resize(sec[1].raw_bytes);
  sections_.decode(sec[1], src, scales_.data());
  src += sec[1].stored_bytes;
  zeros_.resize(sec[2].raw_bytes);
  sections_.decode(sec[2], src, zeros_.data());
  src += sec[2].stored_bytes;

  DequantizeJob job;
  job.geometry = quant_geometry(encoding, heads, head_dim);
  job.side = encoding.side;
  job.codes = codes_.data();
  job.scales = scales_.data();
  job.zeros = zeros_.data();
  job.output = output;
  job.output_dtype = output_dtype;
  job.head_stride = uint64_t{tokens} * head_dim;
  job.token_stride = head_dim;
  backend_.dequantize(job);
  decode_raw_rows(sec[3], src, encoding.quantized_tokens, tokens - encoding.quantized_tokens);
}

}  // namespace kvc
