// sized_buffers.h: the byte counts tests pass with their buffers to kvc 0.2's sized C API calls.
#pragma once

#include <kvc/kvc.h>

#include <cstddef>
#include <vector>

namespace kvc_sized {

// Bytes a contiguous container holds.
template <class Container>
size_t nbytes(const Container& c) {
  return c.size() * sizeof(*c.data());
}

// Bytes one pointer to every layer of shape spans (0 for an invalid shape: the call reports it).
inline size_t extent(const kvc_cache_shape* shape) {
  size_t bytes = 0;
  if (kvc_cache_shape_extent(shape, &bytes, nullptr) != KVC_OK) return 0;
  return bytes;
}
inline size_t extent(const kvc_cache_shape& shape) { return extent(&shape); }

// One layer's extent for each layer of shape (kvc_compress_layers' size arrays).
inline std::vector<size_t> layer_sizes(const kvc_cache_shape& shape) {
  size_t bytes = 0;
  if (kvc_cache_shape_extent(&shape, nullptr, &bytes) != KVC_OK) bytes = 0;
  return std::vector<size_t>(shape.num_layers, bytes);
}

// Bytes the queries of query_shape span for the layers of shape (0 when either is invalid).
inline size_t query_extent(const kvc_query_shape* query_shape, const kvc_cache_shape* shape) {
  size_t bytes = 0;
  if (query_shape == nullptr || shape == nullptr) return 0;
  if (kvc_query_shape_extent(query_shape, shape->num_layers, &bytes) != KVC_OK) return 0;
  return bytes;
}
inline size_t query_extent(const kvc_query_shape& q, const kvc_cache_shape& s) {
  return query_extent(&q, &s);
}
inline size_t query_extent(const kvc_query_shape* q, const kvc_cache_shape& s) {
  return query_extent(q, &s);
}
inline size_t query_extent(const kvc_query_shape& q, const kvc_cache_shape* s) {
  return query_extent(&q, s);
}

}  // namespace kvc_sized
