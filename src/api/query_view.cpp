// query_view.cpp: turns the caller's kvc_query_shape and query pointer into a checked QueryView.
#include "api/query_view.h"

#include <cstdint>
#include <string>

#include "api/versioned_struct.h"
#include "core/error.h"

namespace kvc::api {

namespace {

// The checked fields of a caller's query shape.
QueryView checked_shape(const kvc_query_shape& shape) {
  kvc_query_shape defaults{};
  defaults.struct_size = sizeof defaults;
  defaults.dtype = KVC_DTYPE_F16;
  const kvc_query_shape s = read_versioned(&shape, defaults, "kvc_query_shape");
  QueryView v;
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
  v.num_query_heads = s.num_query_heads;
  v.num_queries = s.num_queries;
  v.head_dim = s.head_dim;
  v.per_layer = s.per_layer == 1;
  return v;
}

uint64_t extent_of(const QueryView& v, uint32_t num_layers) {
  const uint64_t layer = v.elements_per_layer() * dtype_size(v.dtype);  // < 2^63 by the limits
  uint64_t all = layer;
  if (v.per_layer) {
    require(!__builtin_mul_overflow(layer, uint64_t{num_layers}, &all) && all <= SIZE_MAX,
            "the queries of " + std::to_string(num_layers) + " layers exceed the address space");
  }
  return all;
}

}  // namespace

uint64_t query_extent(const kvc_query_shape* shape, uint32_t num_layers) {
  require(shape != nullptr, "query_shape is NULL");
  return extent_of(checked_shape(*shape), num_layers);
}

QueryView query_view(const kvc_query_shape* shape, const void* queries, size_t queries_size,
                     uint32_t num_layers) {
  require((shape == nullptr) == (queries == nullptr), shape == nullptr
                                                          ? "queries given without query_shape"
                                                          : "query_shape given without "
                                                            "queries");
  if (shape == nullptr) return QueryView{};
  QueryView v = checked_shape(*shape);
  const uint64_t extent = extent_of(v, num_layers);
  require(queries_size >= extent,
          "queries_size " + std::to_string(queries_size) + " is smaller than the " +
              std::to_string(extent) + " bytes the query shape needs" +
              (v.per_layer ? " for " + std::to_string(num_layers) + " layers" : std::string()));
  v.data = queries;
  return v;
}

}  // namespace kvc::api
