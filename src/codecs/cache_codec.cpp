// cache_codec.cpp: the whole-cache pipeline: compress a cache view into a .kvc blob, and decode a
// blob (all layers or a range) back into packed tensors.
#include "codecs/cache_codec.h"

#include <kvc/kvc.h>

#include <cstring>
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
  validate(s.selection);
}

uint64_t compress_bound(const CompressSettings& s, const CacheDims& d) {
  // Kept positions: at most one uint32 per head and token in each chunk message.
  const uint64_t positions =
      s.selection.active() ? 2 * (4 * uint64_t{d.num_kv_heads} * d.num_tokens + 8) : 0;
  const uint64_t per_layer = 2 * kChunkMessageBound + 2 * kFooterPerChunkBound + positions +
                             payload_bound(tensor_params(s, true), d) +
                             payload_bound(tensor_params(s, false), d);
  return format::kPreambleBytes + kHeaderMessageBound + kFooterFixedBound + format::kTrailerBytes +
         uint64_t{d.num_layers} * per_layer;
}

struct CacheCodec::State {
  explicit State(const Backend& b)
      : backend(b),
        encoder(b),
        decoder(b),
        host_encoder(cpu_backend()),
        host_decoder(cpu_backend()) {}
  const Backend& backend;
  TensorEncoder encoder;  // reads and writes cache memory (device memory on a CUDA context)
  TensorDecoder decoder;
  // Host memory on every context: layers a device context copies to the host (token selection,
  // scattered decodes) are coded here; the CPU kernels give the same bytes as the device's.
  TensorEncoder host_encoder;
  TensorDecoder host_decoder;
  std::vector<unsigned char> payload;
  std::vector<unsigned char> gathered_keys, gathered_values, scattered;
  std::vector<unsigned char> staged_keys, staged_values, spread_layer;
  Progress progress;

  void report(uint64_t done, uint64_t total) const {
    if (progress) progress(done, total);
  }
};

void CacheCodec::set_progress(Progress progress) { state_->progress = std::move(progress); }
const CacheCodec::Progress& CacheCodec::progress() const { return state_->progress; }

CacheCodec::CacheCodec(const Backend& backend) : state_(std::make_unique<State>(backend)) {}
CacheCodec::~CacheCodec() = default;

namespace {

// Copies the kept rows of tensor into packed [heads][count][head_dim] and returns a view of it.
TensorView gather_kept(const TensorView& tensor, const CacheDims& d, const LayerSelection& sel,
                       std::vector<unsigned char>& out) {
  const size_t row_bytes = size_t{d.head_dim} * dtype_size(d.dtype);
  out.resize(uint64_t{d.num_kv_heads} * sel.count * row_bytes);
  for (uint32_t h = 0; h < d.num_kv_heads; ++h) {
    const uint32_t* row = sel.row(h);
    for (uint32_t i = 0; i < sel.count; ++i) {
      std::memcpy(out.data() + (uint64_t{h} * sel.count + i) * row_bytes, tensor.row(h, row[i]),
                  row_bytes);
    }
  }
  return {out.data(), uint64_t{sel.count} * d.head_dim, d.head_dim, d.dtype};
}

// Copies tensor (cache memory) to packed host memory in out and returns a view of it.
TensorView stage_on_host(const Backend& backend, const TensorView& tensor, const CacheDims& d,
                         std::vector<unsigned char>& out) {
  out.resize(d.bytes_per_tensor());
  backend.gather_rows(tensor, d.num_kv_heads, 0, d.num_tokens, d.head_dim, out.data());
  return {out.data(), uint64_t{d.num_tokens} * d.head_dim, d.head_dim, d.dtype};
}

}  // namespace

CompressResult CacheCodec::compress(const CacheView& cache, const CompressSettings& s,
                                    const QueryView* queries, unsigned char* dst, size_t capacity) {
  validate(s);
  const CacheDims& d = cache.dims;
  const SelectionSettings& sel_settings = s.selection;
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
  h.selection = static_cast<int>(sel_settings.policy);
  h.per_head = sel_settings.per_head && d.num_kv_heads > 1;
  h.attention_threshold =
      sel_settings.policy == SelectionPolicy::Attention ? sel_settings.attention_threshold : 0.0f;
  h.sliding_window = sel_settings.sliding_window;

  format::StreamWriter writer(dst, capacity);
  writer.write_header(h);
  const TensorCodecParams key_params = tensor_params(s, true);
  const TensorCodecParams value_params = tensor_params(s, false);
  CompressResult r;
  double coverage_sum = 0.0;
  bool coverage_known = true;
  for (uint32_t layer = 0; layer < d.num_layers; ++layer) {
    TensorView keys = cache.key(layer);
    TensorView values = cache.value(layer);
    uint32_t kept = d.num_tokens;
    std::vector<uint32_t> positions;
    double coverage = 1.0;
    TensorEncoder* encoder = &state_->encoder;
    const bool measure = queries != nullptr && queries->present();
    if (sel_settings.active() || measure) {
      if (state_->backend.uses_device_memory()) {  // selection reads the keys on the host
        keys = stage_on_host(state_->backend, keys, d, state_->staged_keys);
        values = stage_on_host(state_->backend, values, d, state_->staged_values);
        encoder = &state_->host_encoder;
      }
      const QueryLayer layer_queries = measure ? queries->layer(layer) : QueryLayer{};
      const LayerSelection sel = select_tokens(
          state_->backend, keys, d, sel_settings.active() ? sel_settings : SelectionSettings{},
          measure ? &layer_queries : nullptr);
      coverage = sel.coverage;
      if (sel.count < d.num_tokens) {
        kept = sel.count;
        positions = sel.positions;
        keys = gather_kept(keys, d, sel, state_->gathered_keys);
        values = gather_kept(values, d, sel, state_->gathered_values);
      }
    }
    r.tokens_kept += kept;
    if (coverage < 0) coverage_known = false;
    coverage_sum += coverage;
    for (const format::TensorKind kind : {format::TensorKind::Key, format::TensorKind::Value}) {
      const bool is_key = kind == format::TensorKind::Key;
      state_->payload.clear();
      const std::string label = "layer " + std::to_string(layer) + (is_key ? " keys" : " values");
      const ChunkEncoding e =
          encoder->encode(is_key ? keys : values, d.num_kv_heads, kept, d.head_dim,
                          is_key ? key_params : value_params, state_->payload, label);
      writer.write_chunk(layer, kind, 0, kept, positions, e, state_->payload.data(),
                         state_->payload.size());
      state_->report(2 * uint64_t{layer} + (is_key ? 1 : 2), 2 * uint64_t{d.num_layers});
    }
  }
  r.coverage = coverage_known ? coverage_sum / d.num_layers : -1.0;
  r.blob_bytes = writer.finish();
  r.fits = writer.fits();
  return r;
}

namespace {

// The layer range a decode call covers, checked against the header.
uint32_t checked_count(const DecodeRange& range, const CacheDims& d) {
  require(range.first_layer < d.num_layers, "first_layer " + std::to_string(range.first_layer) +
                                                " is not below num_layers " +
                                                std::to_string(d.num_layers));
  const uint32_t count = range.num_layers ? range.num_layers : d.num_layers - range.first_layer;
  require(count <= d.num_layers - range.first_layer,
          "layers [" + std::to_string(range.first_layer) + ", +" + std::to_string(count) +
              ") run past num_layers " + std::to_string(d.num_layers));
  return count;
}

KeptTokens kept_of(const format::ChunkRecord& rec, const format::HeaderFields& h) {
  KeptTokens k;
  k.count = rec.token_count;
  k.per_head = h.per_head && !rec.positions.empty();
  k.positions = rec.positions;
  return k;
}

}  // namespace

void fill_kept_mask(const std::vector<KeptTokens>& kept, const CacheDims& d, uint8_t* out) {
  const uint64_t per_layer = uint64_t{d.num_kv_heads} * d.num_tokens;
  for (size_t l = 0; l < kept.size(); ++l) {
    const KeptTokens& k = kept[l];
    uint8_t* layer = out + l * per_layer;
    std::memset(layer, k.positions.empty() ? 1 : 0, per_layer);
    if (k.positions.empty()) continue;
    for (uint32_t h = 0; h < d.num_kv_heads; ++h) {
      const uint32_t* row = k.row(h);
      for (uint32_t i = 0; i < k.count; ++i) layer[uint64_t{h} * d.num_tokens + row[i]] = 1;
    }
  }
}

std::vector<KeptTokens> CacheCodec::kept_tokens(const void* blob, size_t blob_bytes,
                                                const DecodeRange& range, CacheDims* out_dims) {
  const format::BlobReader reader(blob, blob_bytes);
  const CacheDims& d = reader.header().dims;
  const uint32_t count = checked_count(range, d);
  std::vector<KeptTokens> kept;
  for (uint32_t i = 0; i < count; ++i) {
    const format::ChunkRecord rec = reader.read_chunk(
        reader.chunk_index(range.first_layer + i, format::TensorKind::Key), false);
    kept.push_back(kept_of(rec, reader.header()));
  }
  if (out_dims != nullptr) *out_dims = d;
  return kept;
}

CacheCodec::DecodeResult CacheCodec::decompress(const void* blob, size_t blob_bytes,
                                                const DecodeRange& range, int output_dtype,
                                                bool scatter, void* keys, void* values,
                                                size_t capacity) {
  const format::BlobReader reader(blob, blob_bytes);
  const CacheDims& d = reader.header().dims;
  const uint32_t count = checked_count(range, d);
  const DType out_dtype = output_dtype == KVC_DTYPE_AS_STORED
                              ? d.dtype
                              : dtype_from_c(output_dtype, "decompress dtype");
  const uint64_t row_bytes = uint64_t{d.head_dim} * dtype_size(out_dtype);
  const bool whole = range.first_layer == 0 && count == d.num_layers;
  if (whole) reader.verify_content();  // one pass over the blob checks every byte of it
  // Every chunk message of the range first: the output size depends on the tokens kept.
  std::vector<format::ChunkRecord> records;
  records.reserve(2 * size_t{count});
  DecodeResult result;
  result.model_name = reader.header().model_name;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t layer = range.first_layer + i;
    records.push_back(reader.read_chunk(reader.chunk_index(layer, format::TensorKind::Key)));
    records.push_back(reader.read_chunk(reader.chunk_index(layer, format::TensorKind::Value)));
    const format::ChunkRecord& k = records[records.size() - 2];
    const format::ChunkRecord& v = records.back();
    require_intact(k.token_count == v.token_count && k.positions == v.positions,
                   "layer " + std::to_string(layer) + " keys and values keep different tokens");
    const uint64_t tokens = scatter ? d.num_tokens : k.token_count;
    result.tensor_bytes += uint64_t{d.num_kv_heads} * tokens * row_bytes;
  }
  if (result.tensor_bytes > capacity) {
    result.fits = false;
    return result;
  }
  require(keys != nullptr && values != nullptr, "keys or values output is NULL");
  uint64_t offset = 0;
  for (uint32_t i = 0; i < count; ++i) {
    const KeptTokens kept = kept_of(records[2 * size_t{i}], reader.header());
    const bool spread = scatter && !kept.positions.empty();
    const uint64_t tokens = scatter ? d.num_tokens : kept.count;
    const uint64_t layer_bytes = uint64_t{d.num_kv_heads} * tokens * row_bytes;
    for (const format::TensorKind kind : {format::TensorKind::Key, format::TensorKind::Value}) {
      const bool is_key = kind == format::TensorKind::Key;
      const format::ChunkRecord& rec = records[2 * size_t{i} + (is_key ? 0 : 1)];
      unsigned char* out = static_cast<unsigned char*>(is_key ? keys : values) + offset;
      if (!spread) {
        state_->decoder.decode(rec.encoding, d.num_kv_heads, rec.token_count, d.head_dim, d.dtype,
                               rec.payload, rec.payload_bytes, out, out_dtype);
      } else {
        // Kept rows to host memory, spread there over the original length (zeros elsewhere),
        // then stored: on a device context a layer goes over in one copy.
        state_->scattered.resize(uint64_t{d.num_kv_heads} * kept.count * row_bytes);
        unsigned char* target = state_->scattered.data();
        const bool device = state_->backend.uses_device_memory();
        TensorDecoder& decoder = device ? state_->host_decoder : state_->decoder;
        decoder.decode(rec.encoding, d.num_kv_heads, rec.token_count, d.head_dim, d.dtype,
                       rec.payload, rec.payload_bytes, target, out_dtype);
        if (device) state_->spread_layer.resize(layer_bytes);
        unsigned char* layer = device ? state_->spread_layer.data() : out;
        std::memset(layer, 0, layer_bytes);
        for (uint32_t h = 0; h < d.num_kv_heads; ++h) {
          const uint32_t* row = kept.row(h);
          for (uint32_t t = 0; t < kept.count; ++t) {
            std::memcpy(layer + (uint64_t{h} * d.num_tokens + row[t]) * row_bytes,
                        target + (uint64_t{h} * kept.count + t) * row_bytes, row_bytes);
          }
        }
        if (device) {
          state_->backend.store(layer, out_dtype, out, out_dtype,
                                layer_bytes / dtype_size(out_dtype));
        }
      }
      state_->report(2 * uint64_t{i} + (is_key ? 1 : 2), 2 * uint64_t{count});
    }
    offset += layer_bytes;
  }
  state_->backend.finish();  // every write to the caller's buffers has landed
  return result;
}

}  // namespace kvc
