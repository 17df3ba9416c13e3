// decompress.cpp: C API section "Inspect, verify, decompress".
#include <kvc/kvc.h>

#include <chrono>
#include <cstring>
#include <string>

#include "api/context.h"
#include "api/guard.h"
#include "api/stats_hooks.h"
#include "api/versioned_struct.h"
#include "format/reader.h"

namespace {

kvc_decompress_params decompress_defaults() {
  kvc_decompress_params p{};
  p.struct_size = sizeof p;
  p.dtype = KVC_DTYPE_AS_STORED;
  p.first_layer = 0;
  p.num_layers = 0;
  return p;
}

}  // namespace

extern "C" {

KVC_API kvc_status kvc_decompress_params_default(kvc_decompress_params* params,
                                                 uint32_t struct_size) {
  return kvc::fill_default(params, struct_size, decompress_defaults());
}

KVC_API kvc_status kvc_inspect(kvc_context* ctx, const void* src, size_t src_size,
                               kvc_blob_info* out_info) {
  return kvc::guarded(ctx, [&] {
    kvc::require(src != nullptr || src_size == 0, "src is NULL");
    kvc::require(out_info != nullptr, "out_info is NULL");
    const kvc::format::BlobReader reader(src, src_size);
    const kvc::format::HeaderFields& h = reader.header();
    kvc_blob_info info{};
    info.struct_size = sizeof info;
    info.format_major = h.format_major;
    info.format_minor = h.format_minor;
    info.num_layers = h.dims.num_layers;
    info.num_kv_heads = h.dims.num_kv_heads;
    info.num_tokens = h.dims.num_tokens;
    info.head_dim = h.dims.head_dim;
    info.dtype = static_cast<kvc_dtype>(h.dims.dtype);
    info.key_bits = h.key_bits;
    info.value_bits = h.value_bits;
    info.group_size = static_cast<int32_t>(h.group_size);
    info.recent_tokens = static_cast<int32_t>(h.recent_tokens);
    info.zstd_level = h.zstd_level;
    info.byte_shuffle = h.byte_shuffle;
    info.num_chunks = static_cast<uint32_t>(reader.chunk_count());
    info.original_bytes = h.dims.total_bytes();
    info.blob_bytes = src_size;
    std::strncpy(info.producer, h.producer.c_str(), sizeof info.producer - 1);
    std::strncpy(info.model_name, h.model_name.c_str(), sizeof info.model_name - 1);
    kvc::write_versioned(out_info, info, "out_info");
  });
}

KVC_API kvc_status kvc_verify(kvc_context* ctx, const void* src, size_t src_size) {
  return kvc::guarded(ctx, [&] {
    kvc::require(src != nullptr || src_size == 0, "src is NULL");
    kvc::format::BlobReader(src, src_size).verify_all();
  });
}

KVC_API kvc_status kvc_decompress(kvc_context* ctx, const kvc_decompress_params* params,
                                  const void* src, size_t src_size, void* keys, void* values,
                                  size_t tensor_capacity, size_t* out_tensor_bytes) {
  const auto start = std::chrono::steady_clock::now();
  return kvc::guarded(ctx, [&] {
    const kvc_decompress_params p =
        kvc::read_versioned(params, decompress_defaults(), "kvc_decompress_params");
    kvc::require(src != nullptr || src_size == 0, "src is NULL");
    kvc::require(out_tensor_bytes != nullptr, "out_tensor_bytes is NULL");
    kvc::DecodeRange range;
    range.first_layer = p.first_layer;
    range.num_layers = p.num_layers;
    const auto r =
        ctx->codec.decompress(src, src_size, range, p.dtype, keys, values, tensor_capacity);
    *out_tensor_bytes = r.tensor_bytes;
    if (!r.fits) {
      throw kvc::Error(KVC_ERR_BUFFER_TOO_SMALL,
                       "tensor_capacity " + std::to_string(tensor_capacity) +
                           " is too small: each of keys and values needs " +
                           std::to_string(r.tensor_bytes) + " bytes");
    }
    if (ctx->stats != nullptr) {  // the header again: cheap next to the decoding
      kvc::api::record_decompress(
          ctx, kvc::format::BlobReader(src, src_size).header().model_name,
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
    }
  });
}

}  // extern "C"
