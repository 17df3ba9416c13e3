// cache_view.cpp: validation of cache shapes and construction of views over caller memory.
#include "core/cache_view.h"

#include <cstdint>
#include <string>

#include "core/error.h"

namespace kvc {
namespace {

// Smallest struct_size that holds every field this library reads from a shape.
constexpr uint32_t kShapeMinSize = offsetof(kvc_cache_shape, token_stride) + sizeof(uint64_t);

uint64_t packed_head_stride(const CacheDims& d) { return uint64_t{d.num_tokens} * d.head_dim; }

void resolve_strides(const kvc_cache_shape& shape, const CacheDims& dims, uint64_t* head_stride,
                     uint64_t* token_stride) {
  *token_stride = shape.token_stride ? shape.token_stride : dims.head_dim;
  *head_stride = shape.head_stride ? shape.head_stride : packed_head_stride(dims);
  require(*token_stride >= dims.head_dim, "token_stride " + std::to_string(*token_stride) +
                                              " is smaller than head_dim " +
                                              std::to_string(dims.head_dim));
}

void require_aligned(const void* p, DType dtype, const std::string& what) {
  require(reinterpret_cast<uintptr_t>(p) % dtype_size(dtype) == 0,
          what + " is not aligned to its " + std::to_string(dtype_size(dtype)) + "-byte elements");
}

}  // namespace

void check_dims(const CacheDims& d) {
  require(d.num_layers > 0, "num_layers is 0");
  require(d.num_kv_heads > 0, "num_kv_heads is 0");
  require(d.num_tokens > 0, "num_tokens is 0");
  require(d.head_dim > 0, "head_dim is 0");
  require(d.num_layers <= 4096, "num_layers " + std::to_string(d.num_layers) + " exceeds 4096");
  require(d.num_kv_heads <= 4096,
          "num_kv_heads " + std::to_string(d.num_kv_heads) + " exceeds 4096");
  require(d.head_dim <= 65536, "head_dim " + std::to_string(d.head_dim) + " exceeds 65536");
  require(d.elements_per_tensor() <= (uint64_t{1} << 40),
          "kv_heads x tokens x head_dim exceeds 2^40 elements per layer");
}

CacheDims dims_from_shape(const kvc_cache_shape& shape) {
  if (shape.struct_size > sizeof(kvc_cache_shape)) {
    throw Error(KVC_ERR_UNSUPPORTED_VERSION, "kvc_cache_shape.struct_size " +
                                                 std::to_string(shape.struct_size) +
                                                 " is newer than this library (" +
                                                 std::to_string(sizeof(kvc_cache_shape)) + ")");
  }
  require(shape.struct_size >= kShapeMinSize,
          "kvc_cache_shape.struct_size " + std::to_string(shape.struct_size) + " is too small");
  CacheDims d;
  d.num_layers = shape.num_layers;
  d.num_kv_heads = shape.num_kv_heads;
  d.num_tokens = shape.num_tokens;
  d.head_dim = shape.head_dim;
  d.dtype = dtype_from_c(shape.dtype, "shape.dtype");
  check_dims(d);
  return d;
}

void check_strides(const kvc_cache_shape& shape, const CacheDims& dims) {
  uint64_t head_stride = 0, token_stride = 0;
  resolve_strides(shape, dims, &head_stride, &token_stride);
}

CacheView view_from_layers(const kvc_cache_shape& shape, const void* const* key_layers,
                           const void* const* value_layers) {
  CacheView v;
  v.dims = dims_from_shape(shape);
  resolve_strides(shape, v.dims, &v.head_stride, &v.token_stride);
  require(key_layers != nullptr, "key_layers is NULL");
  require(value_layers != nullptr, "value_layers is NULL");
  v.keys.assign(key_layers, key_layers + v.dims.num_layers);
  v.values.assign(value_layers, value_layers + v.dims.num_layers);
  for (uint32_t l = 0; l < v.dims.num_layers; ++l) {
    require(v.keys[l] != nullptr, "key_layers[" + std::to_string(l) + "] is NULL");
    require(v.values[l] != nullptr, "value_layers[" + std::to_string(l) + "] is NULL");
    require_aligned(v.keys[l], v.dims.dtype, "key_layers[" + std::to_string(l) + "]");
    require_aligned(v.values[l], v.dims.dtype, "value_layers[" + std::to_string(l) + "]");
  }
  return v;
}

CacheView view_from_packed(const kvc_cache_shape& shape, const void* keys, const void* values) {
  CacheView v;
  v.dims = dims_from_shape(shape);
  resolve_strides(shape, v.dims, &v.head_stride, &v.token_stride);
  require(keys != nullptr, "keys is NULL");
  require(values != nullptr, "values is NULL");
  require_aligned(keys, v.dims.dtype, "keys");
  require_aligned(values, v.dims.dtype, "values");
  const uint64_t layer_stride =
      shape.layer_stride ? shape.layer_stride : v.head_stride * v.dims.num_kv_heads;
  const size_t layer_bytes = layer_stride * dtype_size(v.dims.dtype);
  for (uint32_t l = 0; l < v.dims.num_layers; ++l) {
    v.keys.push_back(static_cast<const unsigned char*>(keys) + l * layer_bytes);
    v.values.push_back(static_cast<const unsigned char*>(values) + l * layer_bytes);
  }
  return v;
}

}  // namespace kvc
