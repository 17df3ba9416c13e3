// queries.h: read-only views of caller query vectors for attention-guided selection and
// validation ([query_heads][queries][head_dim], once per layer or shared by every layer).
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace kvc {

// One layer's queries: element (h, i, d) at data + ((h * num_queries + i) * head_dim + d).
struct QueryLayer {
  const void* data = nullptr;
  DType dtype = DType::F32;
  uint32_t num_query_heads = 0;
  uint32_t num_queries = 0;
  uint32_t head_dim = 0;

  // Query i of head h, converted to float into out[head_dim].
  void load(uint32_t head, uint32_t i, float* out) const {
    const uint64_t base = (uint64_t{head} * num_queries + i) * head_dim;
    for (uint32_t d = 0; d < head_dim; ++d) out[d] = load_as_f32(data, dtype, base + d);
  }
};

// The queries of a whole cache.
struct QueryView {
  const void* data = nullptr;
  DType dtype = DType::F32;
  uint32_t num_query_heads = 0;
  uint32_t num_queries = 0;
  uint32_t head_dim = 0;
  bool per_layer = false;

  bool present() const { return data != nullptr; }
  uint64_t elements_per_layer() const { return uint64_t{num_query_heads} * num_queries * head_dim; }
  QueryLayer layer(uint32_t l) const {
    const uint64_t offset = per_layer ? l * elements_per_layer() * dtype_size(dtype) : 0;
    return {static_cast<const unsigned char*>(data) + offset, dtype, num_query_heads, num_queries,
            head_dim};
  }
};

}  // namespace kvc
