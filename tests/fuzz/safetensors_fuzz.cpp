// safetensors_fuzz.cpp: libFuzzer target: kvc_cache_load and kvc_query_file_load of arbitrary
// bytes written to a temp file.
#include <kvc/kvc_tools.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "fuzz_common.h"

namespace {

// A private file name for this process; no sidecar exists next to it.
const std::string& temp_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/kvc_safetensors_fuzz." +
           std::to_string(getpid()) + ".safetensors";
  }();
  return path;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string& path = temp_path();
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (size > 0 && std::fwrite(data, 1, size, f) != size) std::abort();
  if (std::fclose(f) != 0) std::abort();

  kvc_context* ctx = kvc_fuzz::context();
  kvc_cache* cache = nullptr;
  const kvc_status status = kvc_cache_load(ctx, path.c_str(), &cache);
  kvc_fuzz::check_status(status, "kvc_cache_load", ctx);
  if (status == KVC_OK) {
    kvc_cache_shape shape;
    shape.struct_size = sizeof shape;
    kvc_fuzz::expect(kvc_cache_get_shape(cache, &shape) == KVC_OK, "a loaded cache has no shape");
    const size_t tensor_bytes = size_t{shape.num_layers} * shape.num_kv_heads * shape.num_tokens *
                                shape.head_dim * (shape.dtype == KVC_DTYPE_F32 ? 4 : 2);
    kvc_fuzz::expect(tensor_bytes <= size, "a loaded cache holds more bytes than its file");
    // Touch the first and last byte of each tensor so ASan sees a short buffer.
    const auto* keys = static_cast<const volatile unsigned char*>(kvc_cache_keys(cache));
    const auto* values = static_cast<const volatile unsigned char*>(kvc_cache_values(cache));
    if (tensor_bytes > 0) {
      (void)keys[0], (void)keys[tensor_bytes - 1], (void)values[0], (void)values[tensor_bytes - 1];
    }
  } else {
    kvc_fuzz::expect(cache == nullptr, "a failed load returns a cache");
  }
  kvc_cache_free(cache);

  // The same bytes as a query file: every size checked against the file before it is allocated.
  kvc_query_file* queries = nullptr;
  const kvc_status query_status = kvc_query_file_load(ctx, path.c_str(), &queries);
  kvc_fuzz::check_status(query_status, "kvc_query_file_load", ctx);
  if (query_status == KVC_OK) {
    kvc_query_shape query_shape;
    query_shape.struct_size = sizeof query_shape;
    uint32_t layers = 0;
    kvc_fuzz::expect(kvc_query_file_get_shape(queries, &query_shape, &layers) == KVC_OK,
                     "a loaded query file has no shape");
    size_t query_bytes = 0;
    kvc_fuzz::expect(kvc_query_shape_extent(&query_shape, layers, &query_bytes) == KVC_OK,
                     "a loaded query file's shape has no extent");
    kvc_fuzz::expect(query_bytes <= size, "a loaded query file holds more bytes than its file");
    const auto* data = static_cast<const volatile unsigned char*>(kvc_query_file_data(queries));
    if (query_bytes > 0) (void)data[0], (void)data[query_bytes - 1];
  } else {
    kvc_fuzz::expect(queries == nullptr, "a failed load returns a query file");
  }
  kvc_query_file_free(queries);
  std::remove(path.c_str());
  return 0;
}
