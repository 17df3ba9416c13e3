// cache_view.h: read-only views of caller-owned KV caches (per-layer pointers plus strides).
#pragma once

#include <kvc/kvc.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"

namespace kvc {

// Dimensions and dtype of a cache; strides are per tensor, in elements.
struct CacheDims {
  uint32_t num_layers = 0;
  uint32_t num_kv_heads = 0;
  uint32_t num_tokens = 0;
  uint32_t head_dim = 0;
  DType dtype = DType::F16;

  uint64_t elements_per_tensor() const {
    return uint64_t{num_kv_heads} * num_tokens * head_dim;  // one layer's K (or V)
  }
  uint64_t bytes_per_tensor() const { return elements_per_tensor() * dtype_size(dtype); }
  uint64_t total_bytes() const { return 2 * uint64_t{num_layers} * bytes_per_tensor(); }
};

// One layer's K or V: element (h, t, d) is at base + h*head_stride + t*token_stride + d.
struct TensorView {
  const void* base = nullptr;
  uint64_t head_stride = 0;
  uint64_t token_stride = 0;
  DType dtype = DType::F16;

  const unsigned char* row(uint32_t head, uint32_t token) const {
    return static_cast<const unsigned char*>(base) +
           (head * head_stride + token * token_stride) * dtype_size(dtype);
  }
};

// A whole cache: per-layer pointers to K and V with shared strides.
struct CacheView {
  CacheDims dims;
  uint64_t head_stride = 0;
  uint64_t token_stride = 0;
  std::vector<const void*> keys;    // num_layers pointers
  std::vector<const void*> values;  // num_layers pointers

  TensorView key(uint32_t layer) const {
    return {keys[layer], head_stride, token_stride, dims.dtype};
  }
  TensorView value(uint32_t layer) const {
    return {values[layer], head_stride, token_stride, dims.dtype};
  }
};

// Checks the limits every cache must meet (each dimension at least 1; layers and heads at most
// 4096, head_dim at most 65536, at most 2^40 elements per tensor); throws
// Error(KVC_ERR_INVALID_ARGUMENT) naming the dimension.
void check_dims(const CacheDims& d);

// The kvc_cache_shape of a packed cache of d (strides 0).
kvc_cache_shape packed_shape(const CacheDims& d);

// Checks a kvc_cache_shape (struct_size, dimensions, dtype, strides) and returns its dims;
// throws Error(KVC_ERR_INVALID_ARGUMENT) naming the bad field.
CacheDims dims_from_shape(const kvc_cache_shape& shape);

// Checks the strides of a shape against its dims (token_stride 0 or at least head_dim).
void check_strides(const kvc_cache_shape& shape, const CacheDims& dims);

// Bytes a caller buffer must span for shape: one layer's pointer (layer_bytes) and one pointer
// for every layer (tensor_bytes), strides included. Throws Error naming the field of an invalid
// shape, or when the extent does not fit in 64 bits.
struct CacheExtent {
  uint64_t tensor_bytes = 0;
  uint64_t layer_bytes = 0;
};
CacheExtent cache_extent(const kvc_cache_shape& shape);

// Throws Error(KVC_ERR_INVALID_ARGUMENT) naming both numbers when a caller buffer of size_bytes
// is smaller than the extent_bytes its shape needs.
void require_extent(const std::string& what, uint64_t size_bytes, uint64_t extent_bytes);

// A view of caller memory: one pointer per layer (num_pointers must equal the shape's layers),
// or one pointer plus the layer stride; every buffer's size is checked against its extent.
CacheView view_from_layers(const kvc_cache_shape& shape, uint32_t num_pointers,
                           const void* const* key_layers, const size_t* key_layer_sizes,
                           const void* const* value_layers, const size_t* value_layer_sizes);
CacheView view_from_packed(const kvc_cache_shape& shape, const void* keys, size_t keys_size,
                           const void* values, size_t values_size);

}  // namespace kvc
