// roundtrip_fuzz.cpp: libFuzzer target: a small cache and params from the input, compressed and
// back.
#include <kvc/kvc.h>

#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "../sized_buffers.h"
#include "fuzz_common.h"

namespace {

constexpr size_t kControlBytes = 12;  // bytes that pick the shape and params; the rest is data

// Compares one tensor (strided input, packed output) element by element.
void check_tensor(const std::vector<unsigned char>& in, const std::vector<unsigned char>& out,
                  const kvc_cache_shape& s, int bits, uint32_t quantized_tokens) {
  const size_t elem = kvc_fuzz::dtype_bytes(s.dtype);
  for (uint32_t l = 0; l < s.num_layers; ++l)
    for (uint32_t h = 0; h < s.num_kv_heads; ++h)
      for (uint32_t t = 0; t < s.num_tokens; ++t)
        for (uint32_t d = 0; d < s.head_dim; ++d) {
          const size_t src =
              (l * s.layer_stride + h * s.head_stride + t * s.token_stride + d) * elem;
          const size_t dst =
              (((size_t{l} * s.num_kv_heads + h) * s.num_tokens + t) * s.head_dim + d) * elem;
          if (bits == 16 || t >= quantized_tokens) {
            kvc_fuzz::expect(std::memcmp(&in[src], &out[dst], elem) == 0,
                             "lossless or recent element changed in the round trip");
          } else if (kvc_fuzz::is_finite(&in[src], s.dtype)) {
            kvc_fuzz::expect(kvc_fuzz::is_finite(&out[dst], s.dtype),
                             "lossy round trip made a finite element non-finite");
          }
        }
}

// Whether kvc_compress may refuse this tensor: it holds a NaN or an infinity, or (float32 or
// bfloat16) a value of magnitude FLT_MAX/2 or more, whose group range may exceed float32 scales.
bool may_be_refused(const std::vector<unsigned char>& in, const kvc_cache_shape& s) {
  const size_t elem = kvc_fuzz::dtype_bytes(s.dtype);
  for (uint32_t l = 0; l < s.num_layers; ++l)
    for (uint32_t h = 0; h < s.num_kv_heads; ++h)
      for (uint32_t t = 0; t < s.num_tokens; ++t)
        for (uint32_t d = 0; d < s.head_dim; ++d) {
          const size_t src =
              (l * s.layer_stride + h * s.head_stride + t * s.token_stride + d) * elem;
          if (!kvc_fuzz::is_finite(&in[src], s.dtype)) return true;
          if (s.dtype != KVC_DTYPE_F16 &&
              std::fabs(kvc_fuzz::to_float(&in[src], s.dtype)) >= FLT_MAX / 2) {
            return true;
          }
        }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const int kBits[] = {2, 3, 4, 8, 16};
  static const int kGroups[] = {32, 64, 128};
  kvc_fuzz::Controls c(data, size);
  kvc_cache_shape s;
  kvc_cache_shape_default(&s, sizeof s);
  s.num_layers = 1 + c.next(2);
  s.num_kv_heads = 1 + c.next(3);
  s.num_tokens = 1 + c.next(80);
  s.head_dim = 1 + c.next(160);
  s.dtype = static_cast<kvc_dtype>(c.next(3));
  const uint32_t token_padding = c.next(4);  // 0 = packed; else extra elements per token
  kvc_compress_params p;
  kvc_compress_params_default(&p, sizeof p);
  p.key_bits = kBits[c.next(5)];
  p.value_bits = kBits[c.next(5)];
  p.group_size = kGroups[c.next(3)];
  p.recent_full_precision_tokens = static_cast<int32_t>(c.next(100));
  p.zstd_level = static_cast<int32_t>(c.next(6)) - 1;  // -1..4: fast levels only
  p.byte_shuffle = static_cast<int32_t>(c.next(3));

  s.token_stride = s.head_dim + token_padding;
  s.head_stride = s.token_stride * s.num_tokens;
  s.layer_stride = s.head_stride * s.num_kv_heads;
  const size_t elem = kvc_fuzz::dtype_bytes(s.dtype);
  const size_t tensor_bytes = s.layer_stride * s.num_layers * elem;
  // Keys and values are the rest of the input, repeated to fill the cache (zeros if none).
  const uint8_t* payload = data + (size < kControlBytes ? size : kControlBytes);
  const size_t payload_size = size < kControlBytes ? 0 : size - kControlBytes;
  std::vector<unsigned char> keys(tensor_bytes), values(tensor_bytes);
  for (size_t i = 0; payload_size > 0 && i < tensor_bytes; ++i) {
    keys[i] = payload[i % payload_size];
    values[i] = payload[(i + tensor_bytes) % payload_size];
  }

  kvc_context* ctx = kvc_fuzz::context();
  const size_t bound = kvc_compress_bound(&p, &s);
  kvc_fuzz::expect(bound > 0, "kvc_compress_bound rejects a valid shape");
  std::vector<unsigned char> blob(bound);
  size_t blob_bytes = 0;
  kvc_status status =
      kvc_compress(ctx, &p, &s, keys.data(), kvc_sized::nbytes(keys), values.data(),
                   kvc_sized::nbytes(values), blob.data(), blob.size(), &blob_bytes, nullptr);
  kvc_fuzz::check_status(status, "kvc_compress", ctx);
  kvc_fuzz::expect(status != KVC_ERR_BUFFER_TOO_SMALL, "kvc_compress_bound is too small");
  if (status != KVC_OK) {
    // Only non-finite input, or a range beyond float32, may be refused by a lossy stage.
    kvc_fuzz::expect(status == KVC_ERR_INVALID_ARGUMENT &&
                         (may_be_refused(keys, s) || may_be_refused(values, s)),
                     "kvc_compress failed on finite input");
    return 0;
  }
  kvc_fuzz::expect(blob_bytes <= bound, "kvc_compress wrote past its bound");

  status = kvc_verify(ctx, blob.data(), blob_bytes);
  kvc_fuzz::check_status(status, "kvc_verify", ctx);
  kvc_fuzz::expect(status == KVC_OK, "a fresh blob fails verification");
  const size_t packed_bytes =
      size_t{s.num_layers} * s.num_kv_heads * s.num_tokens * s.head_dim * elem;
  std::vector<unsigned char> out_keys(packed_bytes), out_values(packed_bytes);
  size_t written = 0;
  status = kvc_decompress(ctx, nullptr, blob.data(), blob_bytes, out_keys.data(), out_values.data(),
                          packed_bytes, &written);
  kvc_fuzz::check_status(status, "kvc_decompress", ctx);
  kvc_fuzz::expect(status == KVC_OK && written == packed_bytes, "a fresh blob fails to decode");

  const uint32_t recent = static_cast<uint32_t>(p.recent_full_precision_tokens);
  const uint32_t quantized = s.num_tokens - (recent < s.num_tokens ? recent : s.num_tokens);
  check_tensor(keys, out_keys, s, p.key_bits, quantized);
  check_tensor(values, out_values, s, p.value_bits, quantized);
  return 0;
}
