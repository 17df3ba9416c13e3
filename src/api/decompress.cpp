// decompress.cpp: C API section "Inspect, verify, decompress".
#include <kvc/kvc.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

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
  p.scatter = 0;
  return p;
}

kvc::DecodeRange range_of(const kvc_decompress_params& p) {
  kvc::DecodeRange range;
  range.first_layer = p.first_layer;
  range.num_layers = p.num_layers;
  return range;
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
    info.recent_full_precision_tokens = static_cast<int32_t>(h.recent_tokens);
    info.zstd_level = h.zstd_level;
    info.byte_shuffle = h.byte_shuffle;
    info.num_chunks = static_cast<uint32_t>(reader.chunk_count());
    info.original_bytes = h.dims.total_bytes();
    info.blob_bytes = src_size;
    std::strncpy(info.producer, h.producer.c_str(), sizeof info.producer - 1);
    std::strncpy(info.model_name, h.model_name.c_str(), sizeof info.model_name - 1);
    info.selection = h.selection;
    info.per_head = h.per_head ? 1 : 0;
    // Kept tokens need each chunk message (not its payload): read the key chunks only when the
    // caller's struct has room for the fields.
    if (out_info->struct_size > offsetof(kvc_blob_info, tokens_kept)) {
      for (uint32_t layer = 0; layer < h.dims.num_layers; ++layer) {
        const uint32_t kept =
            reader.read_chunk(reader.chunk_index(layer, kvc::format::TensorKind::Key), false)
                .token_count;
        info.tokens_kept += kept;
        info.max_layer_tokens = std::max(info.max_layer_tokens, kept);
      }
    }
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
    kvc::require(p.scatter == 0 || p.scatter == 1,
                 "scatter " + std::to_string(p.scatter) + " is not 0 or 1");
    const auto r = ctx->codec.decompress(src, src_size, range_of(p), p.dtype, p.scatter == 1, keys,
                                         values, tensor_capacity);
    *out_tensor_bytes = r.tensor_bytes;
    if (!r.fits) {
      throw kvc::Error(KVC_ERR_BUFFER_TOO_SMALL,
                       "tensor_capacity " + std::to_string(tensor_capacity) +
                           " is too small: each of keys and values needs " +
                           std::to_string(r.tensor_bytes) + " bytes");
    }
    kvc::api::record_decompress(
        ctx, r.model_name,
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  });
}

KVC_API kvc_status kvc_decompress_positions(kvc_context* ctx, const kvc_decompress_params* params,
                                            const void* src, size_t src_size,
                                            uint32_t* out_layer_counts,
                                            size_t layer_counts_capacity, uint32_t* out_positions,
                                            size_t positions_capacity,
                                            size_t* out_positions_count) {
  return kvc::guarded(ctx, [&] {
    const kvc_decompress_params p =
        kvc::read_versioned(params, decompress_defaults(), "kvc_decompress_params");
    kvc::require(src != nullptr || src_size == 0, "src is NULL");
    kvc::require(out_positions_count != nullptr, "out_positions_count is NULL");
    kvc::CacheDims dims;
    const std::vector<kvc::KeptTokens> kept =
        ctx->codec.kept_tokens(src, src_size, range_of(p), &dims);
    uint64_t needed = 0;
    for (const kvc::KeptTokens& k : kept) needed += uint64_t{dims.num_kv_heads} * k.count;
    *out_positions_count = needed;
    if (out_layer_counts != nullptr) {
      kvc::require(layer_counts_capacity >= kept.size(),
                   "layer_counts_capacity " + std::to_string(layer_counts_capacity) +
                       " is smaller than the " + std::to_string(kept.size()) + " layers selected");
      for (size_t i = 0; i < kept.size(); ++i) out_layer_counts[i] = kept[i].count;
    }
    if (out_positions == nullptr) return;
    if (needed > positions_capacity) {
      throw kvc::Error(KVC_ERR_BUFFER_TOO_SMALL,
                       "positions_capacity " + std::to_string(positions_capacity) +
                           " is too small: " + std::to_string(needed) + " positions are needed");
    }
    uint32_t* out = out_positions;
    for (const kvc::KeptTokens& k : kept) {
      for (uint32_t h = 0; h < dims.num_kv_heads; ++h) {
        for (uint32_t i = 0; i < k.count; ++i) {
          *out++ = k.positions.empty() ? i : k.row(h)[i];
        }
      }
    }
  });
}

KVC_API kvc_status kvc_decompress_mask(kvc_context* ctx, const kvc_decompress_params* params,
                                       const void* src, size_t src_size, uint8_t* out_mask,
                                       size_t mask_capacity, size_t* out_mask_size) {
  return kvc::guarded(ctx, [&] {
    const kvc_decompress_params p =
        kvc::read_versioned(params, decompress_defaults(), "kvc_decompress_params");
    kvc::require(src != nullptr || src_size == 0, "src is NULL");
    kvc::require(out_mask_size != nullptr, "out_mask_size is NULL");
    kvc::CacheDims dims;
    const std::vector<kvc::KeptTokens> kept =
        ctx->codec.kept_tokens(src, src_size, range_of(p), &dims);
    const uint64_t per_layer = uint64_t{dims.num_kv_heads} * dims.num_tokens;
    const uint64_t needed = per_layer * kept.size();
    *out_mask_size = needed;
    if (needed > mask_capacity) {
      throw kvc::Error(KVC_ERR_BUFFER_TOO_SMALL, "mask_capacity " + std::to_string(mask_capacity) +
                                                     " is too small: the mask needs " +
                                                     std::to_string(needed) + " bytes");
    }
    kvc::require(out_mask != nullptr, "out_mask is NULL");
    kvc::fill_kept_mask(kept, dims, out_mask);
  });
}

}  // extern "C"
