// safetensors_writer.cpp: saves a (possibly strided) KV cache as packed safetensors tensors plus
// its sidecar, both through AtomicFile, so that a failed save keeps the earlier pair.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/atomic_file.h"
#include "io/io_error.h"
#include "io/metadata_sidecar.h"
#include "io/safetensors.h"
#include "io/safetensors_header.h"

namespace kvc::io {
namespace {

constexpr uint64_t kWriteChunkBytes = uint64_t{4} << 20;

void check_view(const CacheView& cache) {
  const CacheDims& d = cache.dims;
  require(d.num_layers > 0, "num_layers is 0");
  require(d.num_kv_heads > 0, "num_kv_heads is 0");
  require(d.num_tokens > 0, "num_tokens is 0");
  require(d.head_dim > 0, "head_dim is 0");
  require(cache.keys.size() == d.num_layers && cache.values.size() == d.num_layers,
          "cache has " + std::to_string(cache.keys.size()) + " key and " +
              std::to_string(cache.values.size()) + " value pointers for num_layers " +
              std::to_string(d.num_layers));
  require(cache.token_stride >= d.head_dim, "token_stride " + std::to_string(cache.token_stride) +
                                                " is smaller than head_dim " +
                                                std::to_string(d.head_dim));
  for (uint32_t l = 0; l < d.num_layers; ++l) {
    require(cache.keys[l] != nullptr, "keys[" + std::to_string(l) + "] is NULL");
    require(cache.values[l] != nullptr, "values[" + std::to_string(l) + "] is NULL");
  }
}

// An AtomicFile whose failures throw Error(KVC_ERR_IO, "<path>: <reason>").
class OutputFile {
 public:
  explicit OutputFile(const std::string& path) : path_(path) { check(file_.open(path)); }
  void write(const void* data, uint64_t size_bytes) { check(file_.write(data, size_bytes)); }
  void flush() { check(file_.flush()); }
  void commit() { check(file_.commit()); }
  bool is_stream() const { return file_.is_stream(); }

 private:
  void check(int error_number) const {
    if (error_number != 0) throw_io(path_, error_number);
  }
  const std::string& path_;
  AtomicFile file_;
};

// Writes one tensor packed [head][token][dim], gathering rows through staging when strided.
void write_tensor(OutputFile& out, const TensorView& tensor, const CacheDims& dims,
                  std::vector<unsigned char>& staging) {
  const uint64_t row_bytes = uint64_t{dims.head_dim} * dtype_size(dims.dtype);
  const bool is_packed = tensor.token_stride == dims.head_dim &&
                         tensor.head_stride == uint64_t{dims.num_tokens} * dims.head_dim;
  if (is_packed) {
    out.write(tensor.base, dims.bytes_per_tensor());
    return;
  }
  if (staging.empty()) {
    staging.resize(std::max(row_bytes, std::min(kWriteChunkBytes, dims.bytes_per_tensor())));
  }
  size_t used = 0;
  for (uint32_t h = 0; h < dims.num_kv_heads; ++h) {
    for (uint32_t t = 0; t < dims.num_tokens; ++t) {
      if (used + row_bytes > staging.size()) {
        out.write(staging.data(), used);
        used = 0;
      }
      std::memcpy(staging.data() + used, tensor.row(h, t), row_bytes);
      used += row_bytes;
    }
  }
  out.write(staging.data(), used);
}

// name as a JSON string literal; nlohmann escapes it (a string value allocates nothing when
// destroyed, unlike an object).
std::string quoted(const std::string& name) {
  try {
    return nlohmann::json(name).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
  } catch (const nlohmann::json::type_error&) {
    throw Error(KVC_ERR_INVALID_ARGUMENT, "model_name is not valid UTF-8");
  }
}

// The header's JSON text: __metadata__ (every value a string), then one entry per tensor.
std::string header_json(const CacheDims& dims, const std::string& quoted_model_name) {
  const uint64_t tensor_bytes = dims.bytes_per_tensor();
  std::string text = "{\"__metadata__\":{";
  text += "\"num_layers\":\"" + std::to_string(dims.num_layers) + "\",";
  text += "\"num_kv_heads\":\"" + std::to_string(dims.num_kv_heads) + "\",";
  text += "\"seq_len\":\"" + std::to_string(dims.num_tokens) + "\",";
  text += "\"head_dim\":\"" + std::to_string(dims.head_dim) + "\",";
  text += "\"dtype\":\"" + std::string(dtype_name(dims.dtype)) + "\",";
  text += "\"model_name\":" + quoted_model_name + "}";
  const std::string shape = "[1," + std::to_string(dims.num_kv_heads) + "," +
                            std::to_string(dims.num_tokens) + "," + std::to_string(dims.head_dim) +
                            "]";
  uint64_t offset = 0;
  for (uint32_t l = 0; l < dims.num_layers; ++l) {
    for (const char* kind : {"_key", "_value"}) {
      text += ",\"layer_" + std::to_string(l) + kind + "\":{\"dtype\":\"" +
              safetensors_dtype_name(dims.dtype) + "\",\"shape\":" + shape + ",\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + tensor_bytes) + "]}";
      offset += tensor_bytes;
    }
  }
  text += "}";
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-byte aligned
  return text;
}

// Held while a cache and its sidecar are renamed into place, so that saves to one path from
// threads of this process leave one save's pair, never one save's cache beside another's sidecar.
std::mutex g_commit_mutex;

}  // namespace

void save_kv_safetensors(const std::string& path, const CacheView& cache,
                         const std::string& model_name) {
  check_view(cache);
  const CacheDims& dims = cache.dims;
  const std::string quoted_model_name = quoted(model_name);
  const std::string header_text = header_json(dims, quoted_model_name);
  const std::string sidecar_text = sidecar_json(dims, quoted_model_name);
  const std::string sidecar_path = metadata_sidecar_path(path);  // before the first rename

  // Both temporary files exist before either is renamed, so a failure (out of memory included)
  // leaves the old pair in place; only the renames come after the last allocation. A stream
  // target (a FIFO, /dev/null) gets the cache alone: its header carries the metadata.
  OutputFile cache_out(path);
  std::optional<OutputFile> sidecar_out;
  if (!cache_out.is_stream()) sidecar_out.emplace(sidecar_path);
  const uint64_t header_bytes = header_text.size();  // little-endian host
  cache_out.write(&header_bytes, sizeof header_bytes);
  cache_out.write(header_text.data(), header_text.size());
  std::vector<unsigned char> staging;
  for (uint32_t l = 0; l < dims.num_layers; ++l) {
    write_tensor(cache_out, cache.key(l), dims, staging);
    write_tensor(cache_out, cache.value(l), dims, staging);
  }
  if (sidecar_out) sidecar_out->write(sidecar_text.data(), sidecar_text.size());
  cache_out.flush();
  if (sidecar_out) sidecar_out->flush();
  const std::lock_guard<std::mutex> lock(g_commit_mutex);
  cache_out.commit();
  if (sidecar_out) sidecar_out->commit();
}

}  // namespace kvc::io
