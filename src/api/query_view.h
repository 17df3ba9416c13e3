// query_view.h: turns the caller's kvc_query_shape and query pointer into a checked QueryView.
#pragma once

#include <kvc/kvc.h>

#include "eviction/queries.h"

namespace kvc::api {

// NULL shape and NULL queries give an empty view; one without the other, a struct_size out of
// range, a dtype or count that is invalid throws Error naming the field.
QueryView query_view(const kvc_query_shape* shape, const void* queries);

}  // namespace kvc::api
