// safetensors_reader.cpp: loads a layer_{i}_key/value KV cache or a layer_{i}_query file from a
// validated safetensors file, checking every tensor before anything is sized from them.
#include <charconv>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.h"
#include "io/io_error.h"
#include "io/metadata_sidecar.h"
#include "io/safetensors.h"
#include "io/safetensors_header.h"

namespace kvc::io {
namespace {

// "<prefix><i><suffix>" with i a decimal without leading zeros below the uint32_t maximum: i.
std::optional<uint32_t> layer_of(std::string_view name, std::string_view prefix,
                                 std::string_view suffix) {
  if (name.size() < prefix.size() + suffix.size() || !name.starts_with(prefix) ||
      !name.ends_with(suffix)) {
    return std::nullopt;
  }
  name = name.substr(prefix.size(), name.size() - prefix.size() - suffix.size());
  if (name.empty() || (name.size() > 1 && name[0] == '0')) return std::nullopt;
  uint32_t layer = 0;
  const char* end = name.data() + name.size();
  const auto [stop, error] = std::from_chars(name.data(), end, layer);
  if (error != std::errc() || stop != end || layer == std::numeric_limits<uint32_t>::max()) {
    return std::nullopt;
  }
  return layer;
}

// "layer_<i>_key" or "layer_<i>_value".
bool parse_layer_name(std::string_view name, uint32_t* layer, bool* is_key) {
  *is_key = name.ends_with("_key");
  const std::optional<uint32_t> found = layer_of(name, "layer_", *is_key ? "_key" : "_value");
  if (found) *layer = *found;
  return found.has_value();
}

// Checks that the tensors form one KV cache and returns its dimensions.
CacheDims check_kv_cache(const std::string& path, std::vector<TensorEntry>& tensors) {
  struct LayerTensors {
    const TensorEntry* key = nullptr;
    const TensorEntry* value = nullptr;
  };
  std::unordered_map<uint32_t, LayerTensors> layers;
  uint32_t max_layer = 0;
  for (TensorEntry& t : tensors) {
    if (!parse_layer_name(t.name, &t.layer, &t.is_key)) {
      throw_not_a_cache(path, "unexpected tensor \"" + t.name +
                                  "\": a KV cache holds only layer_<i>_key and layer_<i>_value");
    }
    (t.is_key ? layers[t.layer].key : layers[t.layer].value) = &t;
    max_layer = std::max(max_layer, t.layer);
  }
  if (tensors.empty()) {
    throw_not_a_cache(path, "no tensors: a KV cache holds layer_<i>_key and layer_<i>_value");
  }
  // Stops at the first gap, so this runs at most layers.size() + 1 times.
  for (uint32_t l = 0; l <= max_layer; ++l) {
    const auto found = layers.find(l);
    const bool has_key = found != layers.end() && found->second.key;
    const bool has_value = found != layers.end() && found->second.value;
    if (!has_key || !has_value) {
      throw_not_a_cache(path, "missing tensor layer_" + std::to_string(l) +
                                  (has_key ? "_value" : "_key") + " (the file has layers up to " +
                                  std::to_string(max_layer) + ")");
    }
  }

  const TensorEntry& first = *layers[0].key;
  const std::optional<DType> dtype = cache_dtype(first.dtype);
  if (!dtype) {
    throw_not_a_cache(path, "tensor " + first.name + ": dtype " + std::string(first.dtype) +
                                " is not F16, BF16 or F32");
  }
  const std::vector<uint64_t>& shape = first.shape;
  const bool is_batched = shape.size() == 4 && shape[0] == 1;
  if (!is_batched && shape.size() != 3) {
    throw_not_a_cache(path, "tensor " + first.name + ": shape " + shape_text(shape) +
                                " is not [1, kv_heads, tokens, head_dim] or [kv_heads, "
                                "tokens, head_dim]");
  }
  for (const TensorEntry& t : tensors) {
    if (t.dtype != first.dtype) {
      throw_not_a_cache(path, "tensor " + t.name + ": dtype " + std::string(t.dtype) +
                                  " differs from " + first.name + "'s " + std::string(first.dtype));
    }
    if (t.shape != shape) {
      throw_not_a_cache(path, "tensor " + t.name + ": shape " + shape_text(t.shape) +
                                  " differs from " + first.name + "'s " + shape_text(shape));
    }
  }

  const size_t first_dim = is_batched ? 1 : 0;
  const char* const kDimNames[] = {"num_kv_heads", "num_tokens", "head_dim"};
  uint32_t dims[3];
  for (size_t i = 0; i < 3; ++i) {
    const uint64_t extent = shape[first_dim + i];
    const std::string field = "tensor " + first.name + ": shape " + shape_text(shape) + " has " +
                              kDimNames[i] + " " + std::to_string(extent);
    if (extent == 0) throw_not_a_cache(path, field);
    if (extent > std::numeric_limits<uint32_t>::max()) {
      throw_not_a_cache(path, field + ", more than 4294967295");
    }
    dims[i] = static_cast<uint32_t>(extent);
  }
  CacheDims result;
  result.num_layers = max_layer + 1;
  result.num_kv_heads = dims[0];
  result.num_tokens = dims[1];
  result.head_dim = dims[2];
  result.dtype = *dtype;
  return result;
}

}  // namespace

KvCacheFile load_kv_safetensors(const std::string& path) {
  SafetensorsFile opened = open_safetensors(path);
  KvCacheFile cache;
  cache.dims = check_kv_cache(path, opened.tensors);
  check_dims(cache.dims);  // the limits every cache meets, as for caller memory
  std::optional<Metadata> metadata = read_sidecar(path);
  if (!metadata) metadata = std::move(opened.metadata);
  if (metadata) cache.model_name = check_metadata(path, *metadata, cache.dims);

  // Every tensor has the first one's shape and dtype and they tile the buffer, so these sizes
  // add up to the buffer's, which the file holds.
  const uint64_t tensor_bytes = cache.dims.bytes_per_tensor();
  cache.keys.resize(cache.dims.num_layers * tensor_bytes);
  cache.values.resize(cache.dims.num_layers * tensor_bytes);
  for (const TensorEntry& t : opened.tensors) {  // in file order
    unsigned char* dst = (t.is_key ? cache.keys : cache.values).data() + t.layer * tensor_bytes;
    read_exactly(opened.file.fd.get(), opened.data_start + t.begin, dst, t.end - t.begin, path);
  }
  return cache;
}

QueryFile load_query_safetensors(const std::string& path) {
  SafetensorsFile opened = open_safetensors(path);
  const std::vector<TensorEntry>& tensors = opened.tensors;
  const auto not_queries = [&](const std::string& why) {
    throw_not_a_cache(path, "not a query file: " + why);
  };
  if (tensors.empty()) not_queries("no tensors: a query file holds layer_<i>_query");
  std::vector<const TensorEntry*> by_layer(tensors.size(), nullptr);
  for (const TensorEntry& t : tensors) {
    if (!t.name.starts_with("layer_") || !t.name.ends_with("_query")) {
      not_queries("unexpected tensor \"" + t.name + "\": a query file holds only layer_<i>_query");
    }
    const std::optional<uint32_t> layer = layer_of(t.name, "layer_", "_query");
    if (!layer || *layer >= by_layer.size() || by_layer[*layer]) {
      not_queries("tensor \"" + t.name +
                  "\" is not layer_<i>_query of a distinct layer below the tensor count");
    }
    by_layer[*layer] = &t;
  }
  const TensorEntry& first = *by_layer[0];
  const std::optional<DType> dtype = cache_dtype(first.dtype);
  if (!dtype) {
    not_queries("tensor " + first.name + ": dtype " + std::string(first.dtype) +
                " is not F16, BF16 or F32");
  }
  const std::vector<uint64_t>& shape = first.shape;
  const bool is_batched = shape.size() == 4 && shape[0] == 1;
  if (!is_batched && shape.size() != 3) {
    not_queries("tensor " + first.name + ": shape " + shape_text(shape) +
                " is not [1, query_heads, queries, head_dim] or [query_heads, queries, head_dim]");
  }
  const size_t f = is_batched ? 1 : 0;
  for (size_t i = 0; i < 3; ++i) {
    if (shape[f + i] == 0 || shape[f + i] > 65536) {
      not_queries("tensor " + first.name + ": shape " + shape_text(shape) +
                  " has an extent of 0 or above 65536");
    }
  }
  // Every tensor against the first before anything is sized from the tensor count: equal dtypes
  // and shapes (so equal byte sizes, which tile the buffer) bound the data by the file's size.
  for (const TensorEntry* t : by_layer) {
    if (t->dtype != first.dtype) {
      not_queries("tensor " + t->name + ": dtype " + std::string(t->dtype) + " differs from " +
                  first.name + "'s " + std::string(first.dtype));
    }
    if (t->shape != shape) {
      not_queries("tensor " + t->name + ": shape " + shape_text(t->shape) + " differs from " +
                  first.name + "'s " + shape_text(shape));
    }
  }
  QueryFile q;
  q.num_layers = static_cast<uint32_t>(tensors.size());
  q.dtype = *dtype;
  q.num_query_heads = static_cast<uint32_t>(shape[f]);
  q.num_queries = static_cast<uint32_t>(shape[f + 1]);
  q.head_dim = static_cast<uint32_t>(shape[f + 2]);
  const uint64_t layer_bytes = first.end - first.begin;
  q.data.resize(q.num_layers * layer_bytes);
  for (uint32_t l = 0; l < q.num_layers; ++l) {
    const TensorEntry& t = *by_layer[l];
    read_exactly(opened.file.fd.get(), opened.data_start + t.begin, q.data.data() + l * layer_bytes,
                 layer_bytes, path);
  }
  return q;
}

}  // namespace kvc::io
