// query_view.cpp: turns the caller's kvc_query_shape and query pointer into a checked QueryView.
#include "api/query_view.h"

#include <string>

#include "api/versioned_struct.h"
#include "core/error.h"

namespace kvc::api {

QueryView query_view(const kvc_query_shape* shape, const void* queries) {
  require((shape == nullptr) == (queries == nullptr), shape == nullptr
                                                          ? "queries given without query_shape"
                                                          : "query_shape given without "
                                                            "queries");
  QueryView v;
  if (shape == nullptr) return v;
  kvc_query_shape defaults{};
  defaults.struct_size = sizeof defaults;
  defaults.dtype = KVC_DTYPE_F16;
  const kvc_query_shape s = read_versioned(shape, defaults, "kvc_query_shape");
  v.dtype = dtype_from_c(s.dtype, "query_shape.dtype");
  require(
      s.num_query_heads > 0 && s.num_query_heads <= 65536,
      "query_shape.num_query_heads " + std::to_string(s.num_query_heads) + " is not in 1..65536");
  require(s.num_queries > 0 && s.num_queries <= (1u << 20),
          "query_shape.num_queries " + std::to_string(s.num_queries) + " is not in 1..2^20");
  require(s.head_dim > 0 && s.head_dim <= 65536,
          "query_shape.head_dim " + std::to_string(s.head_dim) + " is not in 1..65536");
  require(s.per_layer == 0 || s.per_layer == 1,
          "query_shape.per_layer " + std::to_string(s.per_layer) + " is not 0 or 1");
  v.data = queries;
  v.num_query_heads = s.num_query_heads;
  v.num_queries = s.num_queries;
  v.head_dim = s.head_dim;
  v.per_layer = s.per_layer == 1;
  return v;
}

}  // namespace kvc::api
