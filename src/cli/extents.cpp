// extents.cpp: the bytes the CLI's cache and query buffers span, asked of the library.
#include "extents.h"

#include "cli.h"

namespace kvc::cli {

size_t tensor_extent(const kvc_cache_shape& shape) {
  size_t bytes = 0;
  const kvc_status st = kvc_cache_shape_extent(&shape, &bytes, nullptr);
  if (st != KVC_OK) throw failure(st, "the cache's shape is invalid");
  return bytes;
}

size_t query_extent(const kvc_query_shape& query_shape, uint32_t num_layers) {
  size_t bytes = 0;
  const kvc_status st = kvc_query_shape_extent(&query_shape, num_layers, &bytes);
  if (st != KVC_OK) throw failure(st, "the query shape is invalid");
  return bytes;
}

}  // namespace kvc::cli
