// extents.h: the bytes the CLI's cache and query buffers span, asked of the library.
#pragma once

#include <kvc/kvc.h>

#include <cstddef>
#include <cstdint>

namespace kvc::cli {

// Bytes one pointer to every layer's keys (or values) of shape spans; throws on a bad shape.
size_t tensor_extent(const kvc_cache_shape& shape);

// Bytes the queries of query_shape span for num_layers layers; throws on a bad shape.
size_t query_extent(const kvc_query_shape& query_shape, uint32_t num_layers);

}  // namespace kvc::cli
