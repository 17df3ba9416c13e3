/* kvc.h: the stable core of kvc's C API: compress and decompress LLM key/value caches.
 * Estimate, validate, benchmark, statistics, adapters and file I/O are in <kvc/kvc_tools.h>. */
#ifndef KVC_KVC_H_
#define KVC_KVC_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define KVC_API __declspec(dllexport)
#elif defined(__GNUC__)
#define KVC_API __attribute__((visibility("default")))
#else
#define KVC_API
#endif

/* Marks a declaration that goes away in the next minor release; msg names its replacement. */
#if defined(__GNUC__) || defined(__clang__)
#define KVC_DEPRECATED(msg) __attribute__((deprecated(msg)))
#elif defined(_MSC_VER)
#define KVC_DEPRECATED(msg) __declspec(deprecated(msg))
#else
#define KVC_DEPRECATED(msg)
#endif

/* ---- Version: all functions here are thread-safe ---------------------------------------- */
#define KVC_VERSION_MAJOR 0 /* ABI stable within a major (libkvc.so.0) */
#define KVC_VERSION_MINOR 2
#define KVC_VERSION_PATCH 0
#define KVC_VERSION_NUMBER (KVC_VERSION_MAJOR * 10000 + KVC_VERSION_MINOR * 100 + KVC_VERSION_PATCH)

/* The .kvc format version this library writes; it reads every minor of this major. */
#define KVC_FORMAT_MAJOR 1
#define KVC_FORMAT_MINOR 1

/** MAJOR*10000 + MINOR*100 + PATCH of the library loaded at run time. */
KVC_API uint32_t kvc_version_number(void);
/** "MAJOR.MINOR.PATCH" of the library loaded at run time; never NULL. */
KVC_API const char* kvc_version_string(void);

/* ---- Status: all functions here are thread-safe ----------------------------------------- */
typedef int32_t kvc_status; /* not an enum: exactly 32 bits in every FFI */
#define KVC_OK 0
#define KVC_ERR_INVALID_ARGUMENT 1    /* NULL where not allowed, or a value out of range */
#define KVC_ERR_BUFFER_TOO_SMALL 2    /* *out_size holds the capacity needed */
#define KVC_ERR_CORRUPT_DATA 3        /* verification or checksum rejected the input */
#define KVC_ERR_UNSUPPORTED_VERSION 4 /* format or struct newer than this library */
#define KVC_ERR_OUT_OF_MEMORY 5
#define KVC_ERR_DEVICE 6 /* no usable GPU, or a CUDA/cuBLAS/cuSOLVER failure */
#define KVC_ERR_IO 7     /* a file could not be opened, read or written */
/* The context is inside another call (another thread, or a callback of its own): nothing was
 * done, and its last error is unchanged. */
#define KVC_ERR_BUSY 8
#define KVC_ERR_INTERNAL 100 /* a bug: please report */

/** The constant's name, e.g. "KVC_ERR_CORRUPT_DATA"; "KVC_ERR_UNKNOWN" for other values. */
KVC_API const char* kvc_status_name(kvc_status status);

/* ---- Types ------------------------------------------------------------------------------ */
typedef int32_t kvc_dtype;
#define KVC_DTYPE_F32 0
#define KVC_DTYPE_F16 1
#define KVC_DTYPE_BF16 2
#define KVC_DTYPE_AS_STORED (-1) /* decompress only: the dtype the cache was compressed from */

typedef int32_t kvc_device;
#define KVC_DEVICE_CPU 0
#define KVC_DEVICE_CUDA 1

/** Number of usable devices of that kind: 1 for KVC_DEVICE_CPU, 0 for CUDA without a GPU. */
KVC_API int32_t kvc_device_count(kvc_device device);

/* ---- Context: one thread at a time per context; separate contexts run in parallel ------- */
/* A call on a context that is inside another call returns KVC_ERR_BUSY at once (it never
 * corrupts the context); callers that share one must still serialize their calls. */
typedef struct kvc_context kvc_context;

/* A KVC_DEVICE_CUDA context works on caches in GPU memory: kvc_compress, kvc_compress_layers and
 * kvc_compress_with_queries read keys and values from device memory of its device (queries stay
 * in host memory), and kvc_decompress writes device memory; blobs and every other argument are
 * host memory, and the calls of kvc_tools.h (validate, benchmark, quality, ...) take host memory
 * as on a CPU context. It gives the same blob bytes as a CPU context. Creating one fails with
 * KVC_ERR_DEVICE when libkvc_cuda.so or the device is missing (kvc_device_count says which). */
typedef struct kvc_context_params {
  uint32_t struct_size; /* sizeof(kvc_context_params) as the caller compiled it */
  kvc_device device;    /* KVC_DEVICE_CPU (default) or KVC_DEVICE_CUDA */
  int32_t device_index; /* which device of that kind; 0 */
} kvc_context_params;

/** Fills *params with defaults; struct_size is the caller's sizeof(*params). */
KVC_API kvc_status kvc_context_params_default(kvc_context_params* params, uint32_t struct_size);
/** Creates a context; params may be NULL for defaults.
 * @param out_error  NULL, or error_capacity bytes that receive the reason of a failure (cut to
 *                   fit, NUL-terminated; "" on success) */
KVC_API kvc_status kvc_context_create(const kvc_context_params* params, kvc_context** out_ctx,
                                      char* out_error, size_t error_capacity);
/** Frees a context; NULL is a no-op. Called while a call on ctx is running (from its progress
 * callback, or from another thread), it frees ctx when that call returns. */
KVC_API void kvc_context_free(kvc_context* ctx);
/** CUDA contexts: the cudaStream_t (passed as void*) their device work is enqueued on; NULL (the
 * default) is the default stream. Calls return once their device work is complete. A CPU context
 * accepts only NULL. */
KVC_API kvc_status kvc_context_set_stream(kvc_context* ctx, void* stream);
/** Detail of the last failed call on ctx; "" after a success; valid until the next call. */
KVC_API const char* kvc_context_last_error(const kvc_context* ctx);

/* Progress of a long call: done of total units (chunks of a blob) finished so far. Called on the
 * calling thread, from inside kvc_compress* and kvc_decompress; it must not call kvc on ctx. */
typedef void (*kvc_progress_fn)(void* user_data, uint64_t done, uint64_t total);
/** Sets (or with NULL clears) the progress callback of ctx. */
KVC_API kvc_status kvc_context_set_progress(kvc_context* ctx, kvc_progress_fn callback,
                                            void* user_data);

/* ---- Cache shape: plain data; the caller owns and fills it ------------------------------ */
/* A cache has num_layers layers; each has a key and a value tensor [kv_heads][tokens][head_dim].
 * Strides are in elements; 0 means packed (head_stride = tokens*head_dim, token_stride =
 * head_dim, layer_stride = kv_heads*head_stride). layer_stride is used only by calls that take
 * one pointer for all layers. Elements of one token's head_dim are always contiguous. */
typedef struct kvc_cache_shape {
  uint32_t struct_size;
  uint32_t num_layers;
  uint32_t num_kv_heads;
  uint32_t num_tokens;
  uint32_t head_dim;
  kvc_dtype dtype;
  uint64_t layer_stride; /* elements between layers; 0 = packed */
  uint64_t head_stride;  /* elements between heads of one layer; 0 = packed */
  uint64_t token_stride; /* elements between tokens of one head; 0 = packed */
} kvc_cache_shape;

/** Fills *shape with zeros, dtype fp16 and packed strides. */
KVC_API kvc_status kvc_cache_shape_default(kvc_cache_shape* shape, uint32_t struct_size);

/** Bytes a caller's keys (or values) buffer must span for shape, strides included.
 * @param out_tensor_bytes  NULL, or the extent of one pointer for all layers (kvc_compress and
 *                          the calls like it): ((num_layers - 1) * layer_stride + the last
 *                          element of a layer + 1) * element size
 * @param out_layer_bytes   NULL, or the extent of one layer's pointer (kvc_compress_layers)
 * @return KVC_OK, or KVC_ERR_INVALID_ARGUMENT for an invalid shape (see kvc_compress) */
KVC_API kvc_status kvc_cache_shape_extent(const kvc_cache_shape* shape, size_t* out_tensor_bytes,
                                          size_t* out_layer_bytes);

/* ---- Compress: one thread at a time per context ----------------------------------------- */
typedef struct kvc_compress_params {
  uint32_t struct_size; /* sizeof(kvc_compress_params) as the caller compiled it */
  int32_t key_bits;     /* 2, 3, 4 or 8; 16 = keys stored unquantized. Default 4 */
  int32_t value_bits;   /* 2, 3, 4 or 8; 16 = values stored unquantized. Default 4 */
  int32_t group_size;   /* 32, 64 or 128 elements per scale and zero point. Default 64 */
  int32_t recent_full_precision_tokens; /* newest tokens stored unquantized. Default 0 */
  int32_t zstd_level;   /* 0 = no entropy stage; -7..22 = Zstandard level. Default 1 */
  int32_t byte_shuffle; /* KVC_SHUFFLE_*: byte planes of 16/32-bit data before Zstandard */
  char model_name[64];  /* NUL-terminated model identifier recorded in the blob; "" = none */
  /* Token selection (eviction), before quantization. Fields appended after model_name. */
  int32_t selection;         /* KVC_SELECT_*; default KVC_SELECT_NONE */
  float attention_threshold; /* ATTENTION: attention mass the kept tokens cover, (0, 1]; 0.9 */
  float keep_ratio;          /* KEY_NORM, RECENCY: share of tokens kept, (0, 1]; default 0.5 */
  uint32_t min_tokens;       /* keep at least this many tokens (all when fewer); default 0 */
  uint32_t max_tokens;       /* keep at most this many; 0 = no limit. Default 0 */
  uint32_t sink_tokens;      /* first tokens always kept (attention sinks); default 4 */
  uint32_t recent_always_kept_tokens; /* newest tokens selection never evicts; default 32 */
  uint32_t sliding_window; /* > 0: tokens before the newest sliding_window are dropped, whatever
                              the selection (sliding-window attention never reads them) */
  int32_t per_head;        /* 1: each KV head keeps its own tokens (the same count for every head
                              of a layer); 0 (default): one set of tokens per layer */
} kvc_compress_params;

/* Token selection policies of kvc_compress_params.selection. Selection keeps tokens by layer:
 * each layer keeps its own count, so decompressed layers can differ in length (see
 * kvc_decompress). Sink tokens, the recent_always_kept_tokens and [min_tokens, max_tokens] bound
 * every policy; max_tokens wins over the forced tokens when they conflict (newest first). */
#define KVC_SELECT_NONE 0 /* keep every token (sliding_window still applies) */
#define KVC_SELECT_ATTENTION                                                                   \
  1                           /* the fewest tokens whose softmax attention mass, averaged over \
                                 the queries and heads, reaches attention_threshold; needs     \
                                 queries (kvc_compress_with_queries) */
#define KVC_SELECT_KEY_NORM 2 /* no queries: the keep_ratio share with the largest key L2 norm */
#define KVC_SELECT_RECENCY 3  /* no queries: the newest keep_ratio share */

#define KVC_SHUFFLE_AUTO 0 /* shuffle where it makes the output smaller (default) */
#define KVC_SHUFFLE_OFF 1
#define KVC_SHUFFLE_ON 2

/** Fills *params with defaults; struct_size is the caller's sizeof(*params). */
KVC_API kvc_status kvc_compress_params_default(kvc_compress_params* params, uint32_t struct_size);

/* Figures of one compress call; the caller sets struct_size before passing it. */
typedef struct kvc_metrics {
  uint32_t struct_size;
  uint32_t reserved;
  uint64_t original_bytes;          /* keys + values as given */
  uint64_t compressed_bytes;        /* the whole blob, every side stream included */
  double compression_ratio;         /* original_bytes / compressed_bytes */
  double bandwidth_savings_percent; /* 100 * (1 - compressed / original) */
  double bits_per_element;          /* 8 * compressed_bytes / (elements of K and V) */
  uint64_t tokens_total;            /* num_tokens summed over layers (num_layers * num_tokens) */
  uint64_t tokens_kept;             /* tokens kept, summed over layers */
  double compress_ms;               /* wall time of the call */
  /* Attention mass the kept tokens hold under the queries, mean over layers and heads; without
   * queries 1 when every token was kept, else -1 (not measured). */
  double attention_coverage;
} kvc_metrics;

/* Queries for attention-guided selection: the query vectors of the newest positions (or of the
 * next steps), [num_query_heads][num_queries][head_dim] packed, once per layer or once for all.
 * Grouped-query attention: query head h reads KV head h / (num_query_heads / num_kv_heads).
 * Queries attend to every cached token (no causal mask), scaled by 1/sqrt(head_dim). */
typedef struct kvc_query_shape {
  uint32_t struct_size;
  uint32_t num_query_heads; /* a multiple of the cache's num_kv_heads */
  uint32_t num_queries;     /* query vectors per head, at least 1 */
  uint32_t head_dim;        /* must equal the cache's head_dim */
  kvc_dtype dtype;          /* F32, F16 or BF16 */
  uint32_t per_layer;       /* 1: [num_layers][heads][queries][head_dim]; 0: one set for all */
} kvc_query_shape;

/** Fills *shape with zeros, dtype fp16 and per_layer 0. */
KVC_API kvc_status kvc_query_shape_default(kvc_query_shape* shape, uint32_t struct_size);

/** Bytes a queries buffer must hold: num_query_heads * num_queries * head_dim elements, times
 * num_layers when per_layer is 1. @return KVC_OK or KVC_ERR_INVALID_ARGUMENT */
KVC_API kvc_status kvc_query_shape_extent(const kvc_query_shape* query_shape, uint32_t num_layers,
                                          size_t* out_bytes);

/** Upper bound of the blob size kvc_compress can produce for this shape and params (0 when
 * params or shape are invalid). */
KVC_API size_t kvc_compress_bound(const kvc_compress_params* params, const kvc_cache_shape* shape);

/** Compresses one KV cache into a self-contained .kvc blob.
 * @param params        NULL for defaults
 * @param keys, values  caller memory, layer l at (char*)keys + l*layer_stride*elem_size
 * @param keys_size, values_size  bytes the caller's keys and values buffers hold; each must be at
 *                      least the shape's extent (kvc_cache_shape_extent), or the call fails with
 *                      KVC_ERR_INVALID_ARGUMENT before it reads anything
 * @param dst           output buffer of dst_capacity bytes; size it with kvc_compress_bound()
 * @param out_size      bytes written; on KVC_ERR_BUFFER_TOO_SMALL, the capacity needed
 * @param out_metrics   optional (NULL); struct_size must be set
 * @return KVC_OK, KVC_ERR_INVALID_ARGUMENT (bad shape or params, a buffer smaller than the shape,
 *         non-finite input to a lossy stage, or float32 input to a lossy stage whose group range,
 *         max - min, exceeds FLT_MAX) or KVC_ERR_BUFFER_TOO_SMALL; kvc_context_last_error(ctx)
 *         names the value */
KVC_API kvc_status kvc_compress(kvc_context* ctx, const kvc_compress_params* params,
                                const kvc_cache_shape* shape, const void* keys, size_t keys_size,
                                const void* values, size_t values_size, void* dst,
                                size_t dst_capacity, size_t* out_size, kvc_metrics* out_metrics);

/** As kvc_compress, with one pointer per layer: key_layers[l] and value_layers[l] point at
 * layer l ([kv_heads][tokens][head_dim] with the shape's head and token strides).
 * @param num_layer_pointers  entries of the four arrays; must equal shape->num_layers
 * @param key_layer_sizes, value_layer_sizes  bytes each layer's buffer holds; each must be at
 *                      least one layer's extent (kvc_cache_shape_extent's out_layer_bytes) */
KVC_API kvc_status kvc_compress_layers(kvc_context* ctx, const kvc_compress_params* params,
                                       const kvc_cache_shape* shape, uint32_t num_layer_pointers,
                                       const void* const* key_layers, const size_t* key_layer_sizes,
                                       const void* const* value_layers,
                                       const size_t* value_layer_sizes, void* dst,
                                       size_t dst_capacity, size_t* out_size,
                                       kvc_metrics* out_metrics);

/** As kvc_compress, with queries for KVC_SELECT_ATTENTION (and for the attention_coverage of
 * the metrics under any policy). query_shape and queries may be NULL together (queries_size 0).
 * @param queries_size  bytes the queries buffer holds; at least kvc_query_shape_extent's for the
 *                      cache's layers
 * @return as kvc_compress; KVC_ERR_INVALID_ARGUMENT also for queries whose head_dim or heads do
 *         not fit the cache, a queries buffer smaller than its shape, or KVC_SELECT_ATTENTION
 *         without queries */
KVC_API kvc_status kvc_compress_with_queries(kvc_context* ctx, const kvc_compress_params* params,
                                             const kvc_cache_shape* shape, const void* keys,
                                             size_t keys_size, const void* values,
                                             size_t values_size, const kvc_query_shape* query_shape,
                                             const void* queries, size_t queries_size, void* dst,
                                             size_t dst_capacity, size_t* out_size,
                                             kvc_metrics* out_metrics);

/* ---- Inspect, verify, decompress: one thread at a time per context ---------------------- */
/* What a blob holds, read from its header without decoding any payload. */
typedef struct kvc_blob_info {
  uint32_t struct_size;
  uint32_t format_major;
  uint32_t format_minor;
  uint32_t num_layers;
  uint32_t num_kv_heads;
  uint32_t num_tokens;
  uint32_t head_dim;
  kvc_dtype dtype; /* dtype the cache was compressed from */
  int32_t key_bits;
  int32_t value_bits;
  int32_t group_size;
  int32_t recent_full_precision_tokens;
  int32_t zstd_level;
  int32_t byte_shuffle;
  uint32_t num_chunks;
  uint32_t reserved;
  uint64_t original_bytes; /* keys + values in the original dtype */
  uint64_t blob_bytes;     /* the whole blob */
  char producer[64];       /* NUL-terminated name and version of the writer */
  char model_name[64];     /* NUL-terminated model identifier given at compression; "" = none */
  /* Token selection. Without selection tokens_kept = num_layers * num_tokens. */
  int32_t selection;         /* KVC_SELECT_* the blob was made with */
  int32_t per_head;          /* 1: each head has its own kept positions */
  uint64_t tokens_kept;      /* kept tokens summed over layers (per layer, not per head) */
  uint32_t max_layer_tokens; /* the most tokens any layer kept */
  uint32_t reserved2;
} kvc_blob_info;

/** Reads the header and footer of a blob (both verified) into *out_info. */
KVC_API kvc_status kvc_inspect(kvc_context* ctx, const void* src, size_t src_size,
                               kvc_blob_info* out_info);

/** Checks every message with the FlatBuffers verifier and every checksum, without decoding.
 * @return KVC_OK, KVC_ERR_CORRUPT_DATA or KVC_ERR_UNSUPPORTED_VERSION */
KVC_API kvc_status kvc_verify(kvc_context* ctx, const void* src, size_t src_size);

typedef struct kvc_decompress_params {
  uint32_t struct_size;
  kvc_dtype dtype;      /* output dtype; KVC_DTYPE_AS_STORED (default) keeps the original */
  uint32_t first_layer; /* first layer to decode; 0 */
  uint32_t num_layers;  /* layers to decode from first_layer; 0 = all that follow */
  int32_t scatter;      /* 0 (default): the kept tokens only; 1: the original
                           length, zeros where tokens were evicted (kvc_decompress_mask says where) */
} kvc_decompress_params;

/** Fills *params with defaults; struct_size is the caller's sizeof(*params). */
KVC_API kvc_status kvc_decompress_params_default(kvc_decompress_params* params,
                                                 uint32_t struct_size);

/** Decodes a blob into packed [layer][kv_heads][tokens][head_dim] key and value buffers.
 * With token selection and scatter 0, layer l holds its kept tokens only,
 * [kv_heads][kept_l][head_dim], in ascending position order, and layers follow each other
 * packed (kvc_decompress_positions gives kept_l and the positions); with scatter 1 every layer
 * has the original num_tokens, zeros where a token was evicted.
 * Layers outside the requested range are not read beyond their index entry.
 * @param params        NULL for defaults
 * @param keys, values  caller buffers of tensor_capacity bytes each
 * @param out_tensor_bytes  bytes written to each; on KVC_ERR_BUFFER_TOO_SMALL, the size needed
 * @return KVC_OK, KVC_ERR_CORRUPT_DATA, KVC_ERR_UNSUPPORTED_VERSION, KVC_ERR_BUFFER_TOO_SMALL
 *         or KVC_ERR_INVALID_ARGUMENT */
KVC_API kvc_status kvc_decompress(kvc_context* ctx, const kvc_decompress_params* params,
                                  const void* src, size_t src_size, void* keys, void* values,
                                  size_t tensor_capacity, size_t* out_tensor_bytes);

/** Kept token positions of the layers params selects (scatter is ignored).
 * @param out_layer_counts  NULL, or layer_counts_capacity entries, at least the layers selected
 *                          (else KVC_ERR_INVALID_ARGUMENT): tokens each layer kept
 * @param out_positions     NULL, or positions_capacity entries: [layer][kv_head][kept_l]
 *                          ascending source positions (the same row for every head unless the
 *                          blob was made per_head)
 * @param out_positions_count  entries written; on KVC_ERR_BUFFER_TOO_SMALL, the entries needed */
KVC_API kvc_status kvc_decompress_positions(kvc_context* ctx, const kvc_decompress_params* params,
                                            const void* src, size_t src_size,
                                            uint32_t* out_layer_counts,
                                            size_t layer_counts_capacity, uint32_t* out_positions,
                                            size_t positions_capacity, size_t* out_positions_count);

/** Mask of kept tokens, [layer][kv_head][num_tokens] bytes (1 = kept, 0 = evicted), for the
 * layers params selects; *out_mask_size is the bytes written (or needed). */
KVC_API kvc_status kvc_decompress_mask(kvc_context* ctx, const kvc_decompress_params* params,
                                       const void* src, size_t src_size, uint8_t* out_mask,
                                       size_t mask_capacity, size_t* out_mask_size);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KVC_KVC_H_ */
