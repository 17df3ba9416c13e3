// query_view.h: turns the caller's kvc_query_shape and query pointer into a checked QueryView.
#pragma once

#include <kvc/kvc.h>

#include "eviction/queries.h"

namespace kvc::api {

// NULL shape and NULL queries give an empty view; one without the other, a struct_size out of
// range, a dtype or count that is invalid, or a queries_size smaller than the queries of
// num_layers layers need throws Error naming the field.
QueryView query_view(const kvc_query_shape* shape, const void* queries, size_t queries_size,
                     uint32_t num_layers);

// The bytes the queries of shape need for num_layers layers (checked as query_view does).
uint64_t query_extent(const kvc_query_shape* shape, uint32_t num_layers);

}  // namespace kvc::api
