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

kvc_cache_shape packed_shape(const CacheDims& d) {
  kvc_cache_shape s{};
  s.struct_size = sizeof s;
  s.num_layers = d.num_layers;
  s.num_kv_heads = d.num_kv_heads;
  s.num_tokens = d.num_tokens;
  s.head_dim = d.head_dim;
  s.dtype = static_cast<kvc_dtype>(d.dtype);
  return s;
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

CacheExtent cache_extent(const kvc_cache_shape& shape) {
  const CacheDims d = dims_from_shape(shape);
  uint64_t head_stride = 0, token_stride = 0;
  resolve_strides(shape, d, &head_stride, &token_stride);
  const uint64_t layer_stride =
      shape.layer_stride ? shape.layer_stride : head_stride * d.num_kv_heads;
  // Elements from a layer's first to its last element, inclusive; then layers before the last.
  uint64_t layer = 0, head_span = 0, token_span = 0, all = 0;
  bool overflow = __builtin_mul_overflow(uint64_t{d.num_kv_heads} - 1, head_stride, &head_span);
  overflow |= __builtin_mul_overflow(uint64_t{d.num_tokens} - 1, token_stride, &token_span);
  overflow |= __builtin_add_overflow(head_span, token_span, &layer);
  overflow |= __builtin_add_overflow(layer, uint64_t{d.head_dim}, &layer);
  overflow |= __builtin_mul_overflow(uint64_t{d.num_layers} - 1, layer_stride, &all);
  overflow |= __builtin_add_overflow(all, layer, &all);
  CacheExtent e;
  overflow |= __builtin_mul_overflow(layer, uint64_t{dtype_size(d.dtype)}, &e.layer_bytes);
  overflow |= __builtin_mul_overflow(all, uint64_t{dtype_size(d.dtype)}, &e.tensor_bytes);
  require(!overflow && e.tensor_bytes <= SIZE_MAX,
          "the shape's strides reach beyond the address space");
  return e;
}

void require_extent(const std::string& what, uint64_t size_bytes, uint64_t extent_bytes) {
  require(size_bytes >= extent_bytes, what + " " + std::to_string(size_bytes) +
                                          " is smaller than the shape's extent of " +
                                          std::to_string(extent_bytes) + " bytes");
}

CacheView view_from_layers(const kvc_cache_shape& shape, uint32_t num_pointers,
                           const void* const* key_layers, const size_t* key_layer_sizes,
                           const void* const* value_layers, const size_t* value_layer_sizes) {
  CacheView v;
  v.dims = dims_from_shape(shape);
  resolve_strides(shape, v.dims, &v.head_stride, &v.token_stride);
  require(num_pointers == v.dims.num_layers, "num_layer_pointers " + std::to_string(num_pointers) +
                                                 " is not the shape's " +
                                                 std::to_string(v.dims.num_layers) + " layers");
  require(key_layers != nullptr, "key_layers is NULL");
  require(value_layers != nullptr, "value_layers is NULL");
  require(key_layer_sizes != nullptr, "key_layer_sizes is NULL");
  require(value_layer_sizes != nullptr, "value_layer_sizes is NULL");
  const uint64_t extent = cache_extent(shape).layer_bytes;
  v.keys.assign(key_layers, key_layers + v.dims.num_layers);
  v.values.assign(value_layers, value_layers + v.dims.num_layers);
  for (uint32_t l = 0; l < v.dims.num_layers; ++l) {
    const std::string index = "[" + std::to_string(l) + "]";
    require(v.keys[l] != nullptr, "key_layers" + index + " is NULL");
    require(v.values[l] != nullptr, "value_layers" + index + " is NULL");
    require_extent("key_layer_sizes" + index, key_layer_sizes[l], extent);
    require_extent("value_layer_sizes" + index, value_layer_sizes[l], extent);
    require_aligned(v.keys[l], v.dims.dtype, "key_layers" + index);
    require_aligned(v.values[l], v.dims.dtype, "value_layers" + index);
  }
  return v;
}

CacheView view_from_packed(const kvc_cache_shape& shape, const void* keys, size_t keys_size,
                           const void* values, size_t values_size) {
  CacheView v;
  v.dims = dims_from_shape(shape);
  resolve_strides(shape, v.dims, &v.head_stride, &v.token_stride);
  require(keys != nullptr, "keys is NULL");
  require(values != nullptr, "values is NULL");
  const uint64_t extent = cache_extent(shape).tensor_bytes;
  require_extent("keys_size", keys_size, extent);
  require_extent("values_size", values_size, extent);
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
