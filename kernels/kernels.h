// kernels.h: the only interface of kernels/: host launchers with plain C++ types, streams as void*.
// Every pointer below is device memory. Launchers enqueue on the stream and return a cudaError_t
// value (0 = success; error_string() names it); none of them synchronizes.
#pragma once

#include <cstdint>

namespace kvc::kernels {

// Group-wise quantization of [heads][tokens][head_dim] (the quantized tokens only).
struct QuantizeLaunch {
  const void* input = nullptr;  // element (h, t, d) at h*head_stride + t*token_stride + d
  uint64_t head_stride = 0;
  uint64_t token_stride = 0;
  int32_t input_dtype = 1;  // KVC_DTYPE_F32 0, F16 1, BF16 2
  uint32_t heads = 0;
  uint32_t tokens = 0;
  uint32_t head_dim = 0;
  int32_t bits = 4;                // 2, 3, 4 or 8
  uint32_t group_size = 64;        // as used: for values never above head_dim
  int32_t axis = 0;                // 0 keys (per channel, groups of tokens), 1 values (per token)
  int32_t side = 0;                // 0 fp16 scales and zero points, 1 fp32
  unsigned char* codes = nullptr;  // (elements * bits + 7) / 8 bytes, LSB first
  void* scales = nullptr;          // one per group, of side
  void* zeros = nullptr;           // one per group, of side
  unsigned char* scratch_codes = nullptr;  // heads * tokens * head_dim bytes
  unsigned long long* failure = nullptr;   // one word: ~0 on success, else the first failure key
};
int launch_quantize(const QuantizeLaunch& q, void* stream);

// Dequantization into a strided output of output_dtype.
struct DequantizeLaunch {
  uint32_t heads = 0;
  uint32_t tokens = 0;
  uint32_t head_dim = 0;
  int32_t bits = 4;
  uint32_t group_size = 64;
  int32_t axis = 0;
  int32_t side = 0;
  const unsigned char* codes = nullptr;
  const void* scales = nullptr;
  const void* zeros = nullptr;
  void* output = nullptr;  // element (h, t, d) at h*head_stride + t*token_stride + d
  int32_t output_dtype = 1;
  uint64_t head_stride = 0;
  uint64_t token_stride = 0;
};
int launch_dequantize(const DequantizeLaunch& d, void* stream);

// Byte-plane shuffle of n elements of width bytes (plane b holds byte b of every element), or
// its inverse when is_unshuffle.
int launch_shuffle_bytes(const void* src, uint64_t n, uint32_t width, void* dst, bool is_unshuffle,
                         void* stream);

// Packs rows [token_begin, token_begin + count) of each head of a strided tensor into
// [heads][count][head_dim] (the raw recent window).
struct GatherRowsLaunch {
  const void* input = nullptr;
  uint64_t head_stride = 0;
  uint64_t token_stride = 0;
  uint32_t element_bytes = 2;
  uint32_t heads = 0;
  uint32_t token_begin = 0;
  uint32_t count = 0;
  uint32_t head_dim = 0;
  void* output = nullptr;
};
int launch_gather_rows(const GatherRowsLaunch& g, void* stream);

// Token selection's attention mass: mass[kv_head][token] (double, zeroed first) = the mean over
// the group's query heads and the queries of softmax(logits row)[token]; logits are
// [query_heads][num_queries][tokens] (query head qh reads KV head qh / (query_heads / kv_heads)).
// At most 2^31 - 1 rows (query_heads * num_queries).
int launch_attention_mass(const float* logits, uint32_t kv_heads, uint32_t query_heads,
                          uint32_t num_queries, uint32_t tokens, double* mass, void* stream);

// The name and description of a cudaError_t value.
const char* error_string(int code);

}  // namespace kvc::kernels
