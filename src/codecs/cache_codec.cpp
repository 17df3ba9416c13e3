// cache_codec.cpp: the whole-cache pipeline: compress a cache view into a .kvc blob, and decode a
// blob (all layers or a range) back into packed tensors.
#include "codecs/cache_codec.h"

#include <kvc/kvc.h>

#include <string>
#include <vector>

#include "core/error.h"
#include "core/version.h"
#include "format/layout.h"
#include "format/reader.h"
#include "format/writer.h"

namespace kvc {
namespace {

constexpr uint64_t kHeaderMessageBound = 512;
constexpr uint64_t kChunkMessageBound = 512;
constexpr uint64_t kFooterFixedBound = 128;
constexpr uint64_t kFooterPerChunkBound = 24;

bool valid_bits(int bits) {
  return bits == 2 || bits == 3 || bits == 4 || bits == 8 || bits == kLosslessBits;
}

TensorCodecParams tensor_params(const CompressSettings& s, bool is_key) {
  TensorCodecParams p;
  p.bits = is_key ? s.key_bits : s.value_bits;
  p.group_size = s.group_size;
  p.axis = is_key ? GroupAxis::Tokens : GroupAxis::Channels;
  p.recent_tokens = s.recent_tokens;
  p.zstd_level = s.zstd_level;
  p.shuffle = s.shuffle;
  return p;
}

// Largest payload one tensor can need: every section stored, scales in float32.
uint64_t payload_bound(const TensorCodecParams& p, const CacheDims& d) {
  const uint64_t elem = dtype_size(d.dtype);
  if (p.bits == kLosslessBits) return d.elements_per_tensor() * elem;
  ChunkEncoding e;
  e.codec = Codec::Groupwise;
  e.bits = p.bits;
  e.group_size = effective_group_size(p, d.head_dim);
  e.axis = p.axis;
  e.quantized_tokens = d.num_tokens - std::min(p.recent_tokens, d.num_tokens);
  e.side = SideDType::F32;
  uint64_t total = 0;
  for (const SectionInfo& s :
       expected_sections(e, d.num_kv_heads, d.num_tokens, d.head_dim, d.dtype)) {
    total += s.raw_bytes;
  }
  return total;
}

}  // namespace

void validate(const CompressSettings& s) {
  require(valid_bits(s.key_bits),
          "key_bits " + std::to_string(s.key_bits) + " is not 2, 3, 4, 8 or 16");
  require(valid_bits(s.value_bits),
          "value_bits " + std::to_string(s.value_bits) + " is not 2, 3, 4, 8 or 16");
  require(s.group_size == 32 || s.group_size == 64 || s.group_size == 128,
          "group_size " + std::to_string(s.group_size) + " is not 32, 64 or 128");
  require(s.zstd_level >= -7 && s.zstd_level <= 22,
          "zstd_level " + std::to_string(s.zstd_level) + " is not in -7..22");
}

uint64_t compress_bound(const CompressSettings& s, const CacheDims& d) {
  const uint64_t per_layer = 2 * kChunkMessageBound + 2 * kFooterPerChunkBound +
                             payload_bound(tensor_params(s, true), d) +
                             payload_bound(tensor_params(s, false), d);
  return format::kPreambleBytes + kHeaderMessageBound + kFooterFixedBound + format::kTrailerBytes +
         uint64_t{d.num_layers} * per_layer;
}

struct CacheCodec::State {
  explicit State(const Backend& b) : backend(b), encoder(b), decoder(b) {}
  const Backend& backend;
  TensorEncoder encoder;
  TensorDecoder decoder;
  std::vector<unsigned char> payload;
  Progress progress;

  void report(uint64_t done, uint64_t total) const {
    if (progress) progress(done, total);
  }
};

void CacheCodec::set_progress(Progress progress) { state_->progress = std::move(progress); }
const CacheCodec::Progress& CacheCodec::progress() const { return state_->progress; }

CacheCodec::CacheCodec(const Backend& backend) : state_(std::make_unique<State>(backend)) {}
CacheCodec::~CacheCodec() = default;

CompressResult CacheCodec::compress(const CacheView& cache, const CompressSettings& s,
                                    unsigned char* dst, size_t capacity) {
  validate(s);
  const CacheDims& d = cache.dims;
  format::HeaderFields h;
  h.format_major = KVC_FORMAT_MAJOR;
  h.format_minor = KVC_FORMAT_MINOR;
  h.producer = std::string("kvc ") + kVersionString;
  h.dims = d;
  h.key_bits = s.key_bits;
  h.value_bits = s.value_bits;
  h.group_size = s.group_size;
  h.recent_tokens = s.recent_tokens;
  h.zstd_level = s.zstd_level;
  h.byte_shuffle = static_cast<int>(s.shuffle);
  h.model_name = s.model_name;

  format::StreamWriter writer(dst, capacity);
  writer.write_header(h);
  const TensorCodecParams key_params = tensor_params(s, true);
  const TensorCodecParams value_params = tensor_params(s, false);
  for (uint32_t layer = 0; layer < d.num_layers; ++layer) {
    for (const format::TensorKind kind : {format::TensorKind::Key, format::TensorKind::Value}) {
      const bool is_key = kind == format::TensorKind::Key;
      state_->payload.clear();
      const std::string label = "layer " + std::to_string(layer) + (is_key ? " keys" : " values");
      const ChunkEncoding e = state_->encoder.encode(
          is_key ? cache.key(layer) : cache.value(layer), d.num_kv_heads, d.num_tokens, d.head_dim,
          is_key ? key_params : value_params, state_->payload, label);
      writer.write_chunk(layer, kind, 0, d.num_tokens, e, state_->payload.data(),
                         state_->payload.size());
      state_->report(2 * uint64_t{layer} + (is_key ? 1 : 2), 2 * uint64_t{d.num_layers});
    }
  }
  CompressResult r;
  r.blob_bytes = writer.finish();
  r.fits = writer.fits();
  return r;
}

CacheCodec::DecodeResult CacheCodec::decompress(const void* blob, size_t blob_bytes,
                                                const DecodeRange& range, int output_dtype,
                                                void* keys, void* values, size_t capacity) {
  const format::BlobReader reader(blob, blob_bytes);
  const CacheDims& d = reader.header().dims;
  require(range.first_layer < d.num_layers, "first_layer " + std::to_string(range.first_layer) +
                                                " is not below num_layers " +
                                                std::to_string(d.num_layers));
  const uint32_t count = range.num_layers ? range.num_layers : d.num_layers - range.first_layer;
  require(count <= d.num_layers - range.first_layer,
          "layers [" + std::to_string(range.first_layer) + ", +" + std::to_string(count) +
              ") run past num_layers " + std::to_string(d.num_layers));
  const DType out_dtype = output_dtype == KVC_DTYPE_AS_STORED
                              ? d.dtype
                              : dtype_from_c(output_dtype, "decompress dtype");
  const uint64_t layer_bytes = d.elements_per_tensor() * dtype_size(out_dtype);
  DecodeResult result;
  result.tensor_bytes = layer_bytes * count;
  if (result.tensor_bytes > capacity) {
    result.fits = false;
    return result;
  }
  require(keys != nullptr && values != nullptr, "keys or values output is NULL");
  const bool whole = range.first_layer == 0 && count == d.num_layers;
  if (whole) reader.verify_content();  // one pass over the blob checks every byte of it
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t layer = range.first_layer + i;
    for (const format::TensorKind kind : {format::TensorKind::Key, format::TensorKind::Value}) {
      const format::ChunkRecord rec = reader.read_chunk(reader.chunk_index(layer, kind));
      unsigned char* out =
          static_cast<unsigned char*>(kind == format::TensorKind::Key ? keys : values) +
          i * layer_bytes;
      state_->decoder.decode(rec.encoding, d.num_kv_heads, d.num_tokens, d.head_dim, d.dtype,
                             rec.payload, rec.payload_bytes, out, out_dtype);
      state_->report(2 * uint64_t{i} + (kind == format::TensorKind::Key ? 1 : 2),
                     2 * uint64_t{count});
    }
  }
  return result;
}

}  // namespace kvc
