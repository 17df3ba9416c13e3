// codec_helpers.h: unit-test helpers: packed caches, whole-cache compress/decompress, real caches.
#pragma once

#include <kvc/kvc.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/backend.h"
#include "codecs/cache_codec.h"
#include "core/cache_view.h"
#include "core/error.h"
#include "format/reader.h"
#include "io/safetensors.h"
#include "unit/test_data.h"

namespace kvc::test {

// A cache in one packed buffer per tensor kind: [layer][head][token][dim] of dims.dtype.
struct PackedCache {
  CacheDims dims;
  std::vector<unsigned char> keys, values;
};

inline kvc_cache_shape shape_of(const CacheDims& d) { return packed_shape(d); }

inline CacheView view_of(const PackedCache& c) {
  return view_from_packed(shape_of(c.dims), c.keys.data(), c.keys.size() * sizeof(c.keys[0]),
                          c.values.data(), c.values.size() * sizeof(c.values[0]));
}

inline PackedCache pack(const kvc_test::FloatCache& f, DType dtype) {
  PackedCache c;
  c.dims.num_layers = f.layers;
  c.dims.num_kv_heads = f.heads;
  c.dims.num_tokens = f.tokens;
  c.dims.head_dim = f.head_dim;
  c.dims.dtype = dtype;
  c.keys = kvc_test::encode(f.keys, static_cast<int>(dtype));
  c.values = kvc_test::encode(f.values, static_cast<int>(dtype));
  return c;
}

// Compresses with a fresh codec (or the one given) into a buffer of compress_bound() bytes.
inline std::vector<unsigned char> compress(const CacheView& view, const CompressSettings& s,
                                           CacheCodec* codec = nullptr) {
  CacheCodec own(cpu_backend());
  CacheCodec& c = codec ? *codec : own;
  std::vector<unsigned char> blob(compress_bound(s, view.dims));
  const CompressResult r = c.compress(view, s, nullptr, blob.data(), blob.size());
  if (!r.fits) throw Error(KVC_ERR_INTERNAL, "compress_bound was too small");
  blob.resize(r.blob_bytes);
  return blob;
}

inline std::vector<unsigned char> compress(const PackedCache& cache, const CompressSettings& s,
                                           CacheCodec* codec = nullptr) {
  return compress(view_of(cache), s, codec);
}

// Decodes layers [range) of a blob into a packed cache of dtype (kvc_dtype or AS_STORED).
inline PackedCache decompress(const std::vector<unsigned char>& blob,
                              int dtype = KVC_DTYPE_AS_STORED, DecodeRange range = {}) {
  const format::BlobReader reader(blob.data(), blob.size());
  PackedCache out;
  out.dims = reader.header().dims;
  if (dtype != KVC_DTYPE_AS_STORED) out.dims.dtype = static_cast<DType>(dtype);
  out.dims.num_layers =
      range.num_layers ? range.num_layers : out.dims.num_layers - range.first_layer;
  out.keys.assign(out.dims.num_layers * out.dims.bytes_per_tensor(), 0xCD);
  out.values.assign(out.keys.size(), 0xCD);
  CacheCodec codec(cpu_backend());
  const auto r = codec.decompress(blob.data(), blob.size(), range, dtype, false, out.keys.data(),
                                  out.values.data(), out.keys.size());
  if (!r.fits || r.tensor_bytes != out.keys.size()) {
    throw Error(KVC_ERR_INTERNAL, "decompress disagrees with the header about sizes");
  }
  return out;
}

// A real example cache of the data directory, or nothing when the file is absent.
inline std::optional<PackedCache> load_real_cache(const std::string& file_name) {
  const std::string path = kvc_test::data_path(file_name);
  if (!kvc_test::file_exists(path)) return std::nullopt;
  io::KvCacheFile f = io::load_kv_safetensors(path);
  PackedCache c;
  c.dims = f.dims;
  c.keys = std::move(f.keys);
  c.values = std::move(f.values);
  return c;
}

inline std::string missing_cache_reason(const std::string& file_name) {
  return kvc_test::data_path(file_name) +
         " is absent: copy it there (python3 scripts/kvcache/make_example_caches.py --out DIR "
         "--model all)";
}

}  // namespace kvc::test
