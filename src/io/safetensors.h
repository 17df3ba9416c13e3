// safetensors.h: reads and writes KV caches as safetensors files plus a JSON metadata sidecar
// (safetensors_reader.cpp, safetensors_writer.cpp, metadata_sidecar.cpp).
#pragma once

#include <string>
#include <vector>

#include "core/cache_view.h"

namespace kvc::io {

// A loaded cache. keys and values are packed [layer][head][token][dim] in dims.dtype, each
// dims.num_layers * dims.bytes_per_tensor() bytes, in host (little-endian) byte order.
struct KvCacheFile {
  CacheDims dims;
  std::string model_name;  // "" when the file does not name its model
  std::vector<unsigned char> keys, values;
};

// Reads a KV cache from a safetensors file holding tensors layer_{i}_key and layer_{i}_value
// for i in 0..L-1, all of one dtype (F16, BF16 or F32) and one shape, [1, kv_heads, tokens,
// head_dim] or [kv_heads, tokens, head_dim]. Dimensions come from the sidecar
// (metadata_sidecar_path) if it exists, else from the header's __metadata__, else from the
// tensors; metadata that is present must agree with the tensors.
// Throws Error with KVC_ERR_IO (cannot open or read), KVC_ERR_CORRUPT_DATA (not a valid
// safetensors file, or a malformed sidecar) or KVC_ERR_INVALID_ARGUMENT (a valid safetensors
// file that is not a KV cache of this convention, or metadata that disagrees with the tensors).
// Messages start with the file's path and name the offending field and value.
KvCacheFile load_kv_safetensors(const std::string& path);

// Writes cache (which may be strided) as packed tensors of shape [1, kv_heads, tokens, head_dim]
// with the dimensions and model_name in __metadata__, then the sidecar. Each file is written
// through AtomicFile (io/atomic_file.h): a temporary file of a name unique to the call beside
// it, fsynced and renamed over the target, so readers never see a partial file; both temporary
// files are complete before either is renamed, and saves from threads of one process leave one
// save's pair. A path that is a FIFO or a device (/dev/null) is written as a stream, without a
// sidecar. Throws Error(KVC_ERR_IO, "<path>: <reason>") after removing the temporary files, or
// Error(KVC_ERR_INVALID_ARGUMENT) for a view whose layer pointers do not match its dims.
void save_kv_safetensors(const std::string& path, const CacheView& cache,
                         const std::string& model_name);

// Query vectors saved beside a cache: tensors layer_{i}_query for i in 0..L-1, one dtype and
// one shape, [1, query_heads, queries, head_dim] or [query_heads, queries, head_dim]; data is
// packed [layer][head][query][dim]. Every tensor is checked against the first before the data
// is sized. Throws as load_kv_safetensors does.
struct QueryFile {
  uint32_t num_layers = 0, num_query_heads = 0, num_queries = 0, head_dim = 0;
  DType dtype = DType::F32;
  std::vector<unsigned char> data;
};
QueryFile load_query_safetensors(const std::string& path);

// The sidecar of a cache file: "dir/cache.safetensors" -> "dir/cache.metadata.json"; a name
// without the ".safetensors" suffix gets ".metadata.json" appended.
std::string metadata_sidecar_path(const std::string& path);

}  // namespace kvc::io
