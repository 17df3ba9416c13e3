// plugin_abi.h: the C entry points a backend plugin (libkvc_cuda.so) exports to libkvc.so.
#pragma once

#include <stddef.h>
#include <stdint.h>

// Bumped whenever an entry point below changes; libkvc.so refuses other versions.
// 2: group-wise quantize/dequantize, byte shuffle, recent-window gather, symmetric eigen,
//    attention logits.
// 3: device selection, memory (allocate, free, copy, synchronize) for kvc_compress and
//    kvc_decompress on a KVC_DEVICE_CUDA context; attention mass (softmax and aggregation).
#define KVC_CUDA_PLUGIN_ABI_VERSION 3u

#ifdef __cplusplus
extern "C" {
#endif
typedef uint32_t (*kvc_cuda_plugin_abi_version_fn)(void);
typedef int32_t (*kvc_cuda_plugin_device_count_fn)(void);

// All pointers below are device memory of the current device; stream is a cudaStream_t (NULL is
// the default stream). Every entry point returns a kvc_status: KVC_OK, KVC_ERR_INVALID_ARGUMENT
// or KVC_ERR_DEVICE, with a message ("<call>: <reason>") written to message (NUL-terminated,
// truncated to message_capacity) on failure.

// Makes device the current device of the calling thread (cudaSetDevice).
typedef int32_t (*kvc_cuda_plugin_set_device_fn)(int32_t device, char* message,
                                                 size_t message_capacity);

// Device memory of the current device: *out is NULL for 0 bytes; free(NULL) is a no-op.
typedef int32_t (*kvc_cuda_plugin_malloc_fn)(uint64_t bytes, void** out, char* message,
                                             size_t message_capacity);
typedef void (*kvc_cuda_plugin_free_fn)(void* device_pointer);

// Directions of kvc_cuda_plugin_memcpy.
#define KVC_CUDA_COPY_HOST_TO_DEVICE 0
#define KVC_CUDA_COPY_DEVICE_TO_HOST 1
#define KVC_CUDA_COPY_DEVICE_TO_DEVICE 2

// Copies bytes in direction kind, enqueued on the stream (host memory is pageable: a copy to
// the device has read the host bytes when the call returns, a copy to the host is complete
// only after kvc_cuda_plugin_synchronize).
typedef int32_t (*kvc_cuda_plugin_memcpy_fn)(void* dst, const void* src, uint64_t bytes,
                                             int32_t kind, void* stream, char* message,
                                             size_t message_capacity);

// Waits for all work enqueued on the stream.
typedef int32_t (*kvc_cuda_plugin_synchronize_fn)(void* stream, char* message,
                                                  size_t message_capacity);

// Group-wise quantization of the quantized tokens of one tensor (kvc::QuantizeJob).
typedef struct kvc_cuda_quantize_args {
  const void* input;  // element (h, t, d) at h*head_stride + t*token_stride + d elements
  uint64_t head_stride;
  uint64_t token_stride;
  int32_t input_dtype;  // KVC_DTYPE_F32, F16 or BF16
  uint32_t heads;
  uint32_t tokens;
  uint32_t head_dim;
  int32_t bits;          // 2, 3, 4 or 8
  uint32_t group_size;   // 1..128; for values (axis 1) at most head_dim
  int32_t axis;          // 0 keys: per channel, groups of tokens; 1 values: per token
  int32_t side;          // 0 fp16 scales and zero points, 1 fp32
  unsigned char* codes;  // (heads*tokens*head_dim*bits + 7) / 8 bytes
  void* scales;          // one per group, of side
  void* zeros;           // one per group, of side
  void* stream;
} kvc_cuda_quantize_args;

// Quantizes and waits for the stream; *out_outcome is 0 (ok), 1 (an input is NaN or infinite)
// or 2 (a scale or zero point does not fit the side type), as kvc::QuantOutcome.
typedef int32_t (*kvc_cuda_plugin_quantize_fn)(const kvc_cuda_quantize_args* args,
                                               int32_t* out_outcome, char* message,
                                               size_t message_capacity);

// Group-wise dequantization (kvc::DequantizeJob); enqueued on the stream, not waited for.
typedef struct kvc_cuda_dequantize_args {
  uint32_t heads;
  uint32_t tokens;
  uint32_t head_dim;
  int32_t bits;
  uint32_t group_size;
  int32_t axis;
  int32_t side;
  const unsigned char* codes;
  const void* scales;
  const void* zeros;
  void* output;  // element (h, t, d) at h*head_stride + t*token_stride + d elements
  int32_t output_dtype;
  uint64_t head_stride;
  uint64_t token_stride;
  void* stream;
} kvc_cuda_dequantize_args;
typedef int32_t (*kvc_cuda_plugin_dequantize_fn)(const kvc_cuda_dequantize_args* args,
                                                 char* message, size_t message_capacity);

// Byte-plane shuffle of n elements of width bytes (is_unshuffle != 0: its inverse); enqueued.
typedef int32_t (*kvc_cuda_plugin_shuffle_bytes_fn)(const void* src, uint64_t n, uint32_t width,
                                                    void* dst, int32_t is_unshuffle, void* stream,
                                                    char* message, size_t message_capacity);

// Packs tokens [token_begin, token_begin + count) of each head into [heads][count][head_dim].
typedef int32_t (*kvc_cuda_plugin_gather_rows_fn)(const void* input, uint64_t head_stride,
                                                  uint64_t token_stride, int32_t dtype,
                                                  uint32_t heads, uint32_t token_begin,
                                                  uint32_t count, uint32_t head_dim, void* output,
                                                  void* stream, char* message,
                                                  size_t message_capacity);

// Eigendecomposition of batch symmetric n x n float matrices at a (the lower triangle of each,
// column-major, is read: the upper triangle of a row-major matrix), by cuSOLVER syevj (batched
// for n <= 32); eigenvalues ascending to eigenvalues[b*n + j], unit eigenvector j to
// vectors[b*n*n + j*n ...]. libcusolver is opened on first use; waits for the stream.
typedef int32_t (*kvc_cuda_plugin_symmetric_eigen_fn)(const float* a, uint32_t n, uint32_t batch,
                                                      float* eigenvalues, float* vectors,
                                                      void* stream, char* message,
                                                      size_t message_capacity);

// Attention logits for token selection, by cuBLAS (SgemmStridedBatched, one batch per KV head):
// logits[(qh*num_queries + i)*tokens + t] = (query i of head qh) . (key t of KV head
// qh / (query_heads / kv_heads)) / sqrt(head_dim). keys are [kv_heads][tokens][head_dim] and
// queries [query_heads][num_queries][head_dim], packed float32. libcublas is opened on first use;
// enqueued on the stream, not waited for.
typedef int32_t (*kvc_cuda_plugin_attention_logits_fn)(const float* keys, const float* queries,
                                                       uint32_t kv_heads, uint32_t query_heads,
                                                       uint32_t num_queries, uint32_t tokens,
                                                       uint32_t head_dim, float* logits,
                                                       void* stream, char* message,
                                                       size_t message_capacity);

// Softmax and aggregation of token selection on the device: mass[kv_head * tokens + t] (double)
// = the mean over the query heads of that KV head and over the queries of softmax(logits row)[t],
// for logits [query_heads][num_queries][tokens] as kvc_cuda_plugin_attention_logits writes them.
// Enqueued on the stream, not waited for.
typedef int32_t (*kvc_cuda_plugin_attention_mass_fn)(const float* logits, uint32_t kv_heads,
                                                     uint32_t query_heads, uint32_t num_queries,
                                                     uint32_t tokens, double* mass, void* stream,
                                                     char* message, size_t message_capacity);
#ifdef __cplusplus
}
#endif
