/* kvc.h: public C API of kvc, a library that compresses LLM key/value caches. */
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

/* ---- Version: all functions here are thread-safe ---------------------------------------- */
#define KVC_VERSION_MAJOR 0 /* ABI stable within a major (libkvc.so.0) */
#define KVC_VERSION_MINOR 1
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
#define KVC_ERR_DEVICE 6     /* no usable GPU, or a CUDA/cuBLAS/cuSOLVER failure */
#define KVC_ERR_IO 7         /* a file could not be opened, read or written */
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
typedef struct kvc_context kvc_context;
/* A model adapter (see the Adapters section); declared here because other sections take one. */
typedef struct kvc_adapter kvc_adapter;

/* A KVC_DEVICE_CUDA context works on caches in GPU memory: kvc_compress, kvc_compress_layers and
 * kvc_compress_with_queries read keys and values from device memory of its device (queries stay
 * in host memory), and kvc_decompress writes device memory; blobs and every other argument are
 * host memory, and every other call (validate, benchmark, quality, ...) takes host memory as on a
 * CPU context. It gives the same blob bytes as a CPU context. Creating one fails with
 * KVC_ERR_DEVICE when libkvc_cuda.so or the device is missing (kvc_device_count says which). */
typedef struct kvc_context_params {
  uint32_t struct_size; /* sizeof(kvc_context_params) as the caller compiled it */
  kvc_device device;    /* KVC_DEVICE_CPU (default) or KVC_DEVICE_CUDA */
  int32_t device_index; /* which device of that kind; 0 */
} kvc_context_params;

/** Fills *params with defaults; struct_size is the caller's sizeof(*params). */
KVC_API kvc_status kvc_context_params_default(kvc_context_params* params, uint32_t struct_size);
/** Creates a context; params may be NULL for defaults. */
KVC_API kvc_status kvc_context_create(const kvc_context_params* params, kvc_context** out_ctx);
/** Frees a context; NULL is a no-op. */
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

/* ---- Compress: one thread at a time per context ----------------------------------------- */
typedef struct kvc_compress_params {
  uint32_t struct_size;  /* sizeof(kvc_compress_params) as the caller compiled it */
  int32_t key_bits;      /* 2, 3, 4 or 8; 16 = keys stored unquantized. Default 4 */
  int32_t value_bits;    /* 2, 3, 4 or 8; 16 = values stored unquantized. Default 4 */
  int32_t group_size;    /* 32, 64 or 128 elements per scale and zero point. Default 64 */
  int32_t recent_tokens; /* newest tokens kept in full precision. Default 0 */
  int32_t zstd_level;    /* 0 = no entropy stage; -7..22 = Zstandard level. Default 1 */
  int32_t byte_shuffle;  /* KVC_SHUFFLE_*: byte planes of 16/32-bit data before Zstandard */
  char model_name[64];   /* NUL-terminated model identifier recorded in the blob; "" = none */
  /* Token selection (eviction), before quantization. Fields appended after model_name. */
  int32_t selection;         /* KVC_SELECT_*; default KVC_SELECT_NONE */
  float attention_threshold; /* ATTENTION: attention mass the kept tokens cover, (0, 1]; 0.9 */
  float keep_ratio;          /* KEY_NORM, RECENCY: share of tokens kept, (0, 1]; default 0.5 */
  uint32_t min_tokens;       /* keep at least this many tokens (all when fewer); default 0 */
  uint32_t max_tokens;       /* keep at most this many; 0 = no limit. Default 0 */
  uint32_t sink_tokens;      /* first tokens always kept (attention sinks); default 4 */
  uint32_t keep_recent;      /* newest tokens always kept; default 32 */
  uint32_t sliding_window;   /* > 0: tokens before the newest sliding_window are dropped, whatever
                                the selection (sliding-window attention never reads them) */
  int32_t per_head;          /* 1: each KV head keeps its own tokens (the same count for every head
                                of a layer); 0 (default): one set of tokens per layer */
} kvc_compress_params;

/* Token selection policies of kvc_compress_params.selection. Selection keeps tokens by layer:
 * each layer keeps its own count, so decompressed layers can differ in length (see
 * kvc_decompress). Sink tokens, the keep_recent window and [min_tokens, max_tokens] bound every
 * policy; max_tokens wins over the forced tokens when they conflict (newest first). */
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

/** Upper bound of the blob size kvc_compress can produce for this shape and params (0 when
 * params or shape are invalid). */
KVC_API size_t kvc_compress_bound(const kvc_compress_params* params, const kvc_cache_shape* shape);

/** Compresses one KV cache into a self-contained .kvc blob.
 * @param params        NULL for defaults
 * @param keys, values  caller memory, layer l at (char*)keys + l*layer_stride*elem_size
 * @param dst           output buffer of dst_capacity bytes; size it with kvc_compress_bound()
 * @param out_size      bytes written; on KVC_ERR_BUFFER_TOO_SMALL, the capacity needed
 * @param out_metrics   optional (NULL); struct_size must be set
 * @return KVC_OK, KVC_ERR_INVALID_ARGUMENT (bad shape or params, non-finite input to a lossy
 *         stage, or float32 input to a lossy stage whose group range, max - min, exceeds
 *         FLT_MAX) or KVC_ERR_BUFFER_TOO_SMALL; kvc_context_last_error(ctx) names the value */
KVC_API kvc_status kvc_compress(kvc_context* ctx, const kvc_compress_params* params,
                                const kvc_cache_shape* shape, const void* keys, const void* values,
                                void* dst, size_t dst_capacity, size_t* out_size,
                                kvc_metrics* out_metrics);

/** As kvc_compress, with one pointer per layer: key_layers[l] and value_layers[l] point at
 * layer l ([kv_heads][tokens][head_dim] with the shape's head and token strides). */
KVC_API kvc_status kvc_compress_layers(kvc_context* ctx, const kvc_compress_params* params,
                                       const kvc_cache_shape* shape, const void* const* key_layers,
                                       const void* const* value_layers, void* dst,
                                       size_t dst_capacity, size_t* out_size,
                                       kvc_metrics* out_metrics);

/** As kvc_compress, with queries for KVC_SELECT_ATTENTION (and for the attention_coverage of
 * the metrics under any policy). query_shape and queries may be NULL together.
 * @return as kvc_compress; KVC_ERR_INVALID_ARGUMENT also for queries whose head_dim or heads do
 *         not fit the cache, or KVC_SELECT_ATTENTION without queries */
KVC_API kvc_status kvc_compress_with_queries(kvc_context* ctx, const kvc_compress_params* params,
                                             const kvc_cache_shape* shape, const void* keys,
                                             const void* values, const kvc_query_shape* query_shape,
                                             const void* queries, void* dst, size_t dst_capacity,
                                             size_t* out_size, kvc_metrics* out_metrics);

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
  int32_t recent_tokens;
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
 * @param out_layer_counts  NULL, or num_layers (selected) entries: tokens each layer kept
 * @param out_positions     NULL, or positions_capacity entries: [layer][kv_head][kept_l]
 *                          ascending source positions (the same row for every head unless the
 *                          blob was made per_head)
 * @param out_positions_count  entries written; on KVC_ERR_BUFFER_TOO_SMALL, the entries needed */
KVC_API kvc_status kvc_decompress_positions(kvc_context* ctx, const kvc_decompress_params* params,
                                            const void* src, size_t src_size,
                                            uint32_t* out_layer_counts, uint32_t* out_positions,
                                            size_t positions_capacity, size_t* out_positions_count);

/** Mask of kept tokens, [layer][kv_head][num_tokens] bytes (1 = kept, 0 = evicted), for the
 * layers params selects; *out_mask_size is the bytes written (or needed). */
KVC_API kvc_status kvc_decompress_mask(kvc_context* ctx, const kvc_decompress_params* params,
                                       const void* src, size_t src_size, uint8_t* out_mask,
                                       size_t mask_capacity, size_t* out_mask_size);

/* ---- Estimate, validate, benchmark: one thread at a time per context -------------------- */
/* A prediction of what kvc_compress would give, computed from the shape and params alone. */
typedef struct kvc_estimate_result {
  uint32_t struct_size;
  int32_t exact_tokens; /* 1: tokens_kept is exact; 0: an upper bound (KVC_SELECT_ATTENTION
                           keeps what the queries decide) */
  uint64_t original_bytes;
  uint64_t compressed_bytes; /* predicted blob size */
  double compression_ratio;
  double bandwidth_savings_percent;
  double bits_per_element;
  uint64_t tokens_total; /* summed over layers, as in kvc_metrics */
  uint64_t tokens_kept;  /* summed over layers */
} kvc_estimate_result;

/** Predicts the blob size, ratio, savings and tokens kept without compressing.
 * @param params  NULL for defaults */
KVC_API kvc_status kvc_estimate(kvc_context* ctx, const kvc_compress_params* params,
                                const kvc_cache_shape* shape, kvc_estimate_result* out_estimate);

/* Validation thresholds; 0 in a field takes the default shown. */
typedef struct kvc_validate_params {
  uint32_t struct_size;
  float min_cosine;             /* reconstruction cosine of K and of V; default 0.99 */
  float min_snr_db;             /* reconstruction SNR of K and of V; default 20 */
  float min_attention_coverage; /* default: the blob's attention threshold, else the adapter's */
  float max_attention_error;    /* relative error of the attention output; default 0.15 */
  uint32_t top_k;               /* tokens compared by top-k overlap; default 10 */
} kvc_validate_params;

/** Fills *params with defaults; struct_size is the caller's sizeof(*params). */
KVC_API kvc_status kvc_validate_params_default(kvc_validate_params* params, uint32_t struct_size);

/* Violation flags beyond reconstruction (kvc_validation.violations). */
#define KVC_VIOLATION_ATTENTION_COVERAGE 32u /* kept tokens hold less attention than required */
#define KVC_VIOLATION_ATTENTION_ERROR 64u    /* attention output error above max */

/* Warning flags of kvc_validation.warnings. */
#define KVC_WARNING_NO_QUERIES 1u       /* attention metrics not measured (-1) */
#define KVC_WARNING_MANY_EVICTED 2u     /* more than half of the tokens were evicted */
#define KVC_WARNING_SHAPE_FROM_INPUT 4u /* the adapter has no shape; the input's was used */
#define KVC_WARNING_QUALITY_TO_SPARE 8u /* far above every threshold: fewer bits would do */

/* Recommendation flags of kvc_validation.recommendations: which parameter to change. */
#define KVC_RECOMMEND_MORE_KEY_BITS 1u
#define KVC_RECOMMEND_MORE_VALUE_BITS 2u
#define KVC_RECOMMEND_SMALLER_GROUPS 4u
#define KVC_RECOMMEND_MORE_RECENT_TOKENS 8u
#define KVC_RECOMMEND_HIGHER_THRESHOLD 16u /* raise attention_threshold (keep more tokens) */
#define KVC_RECOMMEND_MORE_SINK_TOKENS 32u
#define KVC_RECOMMEND_FEWER_BITS 64u       /* quality to spare: compress harder */
#define KVC_RECOMMEND_LOWER_THRESHOLD 128u /* coverage to spare: evict more */

typedef struct kvc_validation {
  uint32_t struct_size;
  int32_t level;            /* KVC_QUALITY_* */
  int32_t passed;           /* 1 when violations == 0 */
  uint32_t violations;      /* KVC_VIOLATION_* */
  uint32_t warnings;        /* KVC_WARNING_* */
  uint32_t recommendations; /* KVC_RECOMMEND_* */
  /* Reconstruction over the kept tokens (the decoded tokens against the same original ones). */
  double key_rmse, key_snr_db, key_cosine, key_max_error;
  double value_rmse, value_snr_db, value_cosine, value_max_error;
  double rmse, snr_db, cosine, max_error;
  /* Attention, from the queries (-1 each without queries): mean over layers, heads, queries. */
  double attention_coverage;     /* original attention mass on the kept tokens */
  double attention_output_error; /* |o - o'| / |o| of o = softmax(q K^T / sqrt(d)) V */
  double attention_kl;           /* KL(p || p') of the attention distributions, nats */
  double topk_overlap;           /* share of the original top_k tokens still in the top_k */
  /* Share of the original K and V energy not reproduced, evicted tokens counted whole. */
  double information_loss;
  uint64_t tokens_total; /* summed over layers, as in kvc_metrics */
  uint64_t tokens_kept;  /* summed over layers */
  char report[1024];     /* NUL-terminated: violations, warnings, recommendations; one per line */
} kvc_validation;

/** Validates a blob against the cache it was made from (and the queries, when given).
 * @param params   NULL for defaults
 * @param adapter  NULL, or the model's adapter: its policy supplies the attention threshold
 *                 when neither params nor the blob does
 * @param query_shape, queries  NULL together, or queries as for kvc_compress_with_queries */
KVC_API kvc_status kvc_validate(kvc_context* ctx, const kvc_validate_params* params,
                                const kvc_adapter* adapter, const kvc_cache_shape* shape,
                                const void* keys, const void* values,
                                const kvc_query_shape* query_shape, const void* queries,
                                const void* blob, size_t blob_size, kvc_validation* out_validation);

/* Timings of repeated compress and decompress calls on one cache. */
typedef struct kvc_benchmark_result {
  uint32_t struct_size;
  uint32_t iterations;
  double compress_ms_median, compress_ms_p99;
  double decompress_ms_median, decompress_ms_p99;
  double compress_gb_per_s;   /* original bytes / median compress time */
  double decompress_gb_per_s; /* original bytes / median decompress time */
  double compression_ratio;
  double bandwidth_savings_percent;
  double bits_per_element;
  uint64_t original_bytes;
  uint64_t compressed_bytes;
  uint64_t tokens_total;  /* summed over layers, as in kvc_metrics */
  uint64_t tokens_kept;   /* summed over layers */
  int32_t quality_passed; /* kvc_validate with default thresholds passed */
  int32_t quality_level;  /* KVC_QUALITY_* */
} kvc_benchmark_result;

/** Compresses and decompresses the cache iterations times (after one warm-up of each),
 * reporting progress (done, iterations) through the context's callback.
 * @param query_shape, queries  NULL together, or as for kvc_compress_with_queries */
KVC_API kvc_status kvc_benchmark(kvc_context* ctx, const kvc_compress_params* params,
                                 const kvc_cache_shape* shape, const void* keys, const void* values,
                                 const kvc_query_shape* query_shape, const void* queries,
                                 uint32_t iterations, kvc_benchmark_result* out_result);

/* ---- Statistics: a kvc_stats is thread-safe; share it across threads and contexts freely - */
/* Running counts and averages per model name, fed by every compress and decompress call of the
 * contexts attached to it (kvc_context_set_stats) and by kvc_stats_record. */
typedef struct kvc_stats kvc_stats;

typedef struct kvc_model_stats {
  uint32_t struct_size;
  uint32_t reserved;
  char model_name[64]; /* "" collects calls without a model name */
  uint64_t compress_calls;
  uint64_t decompress_calls;
  uint64_t original_bytes;   /* summed over compress calls */
  uint64_t compressed_bytes; /* summed over compress calls */
  uint64_t tokens_total;     /* summed over compress calls (and layers) */
  uint64_t tokens_kept;      /* summed over compress calls (and layers) */
  uint64_t coverage_samples; /* compress calls that measured attention coverage */
  double total_compress_ms;
  double mean_compress_ms;
  double total_decompress_ms;
  double mean_decompress_ms;
  double compression_ratio;       /* original_bytes / compressed_bytes */
  double mean_savings_percent;    /* mean of the calls' bandwidth savings */
  double mean_attention_coverage; /* over coverage_samples; -1 when none */
} kvc_model_stats;

KVC_API kvc_status kvc_stats_create(kvc_stats** out_stats);
/** Frees stats; NULL is a no-op. No context may still be attached to it. */
KVC_API void kvc_stats_free(kvc_stats* stats);
/** Attaches stats to ctx (NULL detaches): ctx's compress and decompress calls then record into
 * it under the blob's model name. stats must outlive the attachment. */
KVC_API kvc_status kvc_context_set_stats(kvc_context* ctx, kvc_stats* stats);
/** Records one compress call's metrics under model_name (NULL or "" = no model). */
KVC_API kvc_status kvc_stats_record(kvc_stats* stats, const char* model_name,
                                    const kvc_metrics* metrics);
/** Number of models with at least one record. */
KVC_API uint32_t kvc_stats_model_count(const kvc_stats* stats);
/** The figures of model_name. @return KVC_ERR_INVALID_ARGUMENT when it has no record */
KVC_API kvc_status kvc_stats_get(const kvc_stats* stats, const char* model_name,
                                 kvc_model_stats* out_model_stats);
/** The figures of the model at index (0 .. count - 1), in the order models were first seen. */
KVC_API kvc_status kvc_stats_get_index(const kvc_stats* stats, uint32_t index,
                                       kvc_model_stats* out_model_stats);
/** Forgets model_name (it comes back, last, with its next record), or every model when
 * model_name is NULL. */
KVC_API kvc_status kvc_stats_reset(kvc_stats* stats, const char* model_name);

/* ---- Quality: one thread at a time per context ------------------------------------------ */
#define KVC_QUALITY_POOR 0
#define KVC_QUALITY_ACCEPTABLE 1
#define KVC_QUALITY_GOOD 2
#define KVC_QUALITY_EXCELLENT 3

/* Violation flags of kvc_quality.violations. */
#define KVC_VIOLATION_KEY_COSINE 1u   /* key cosine similarity below min_cosine */
#define KVC_VIOLATION_VALUE_COSINE 2u /* value cosine similarity below min_cosine */
#define KVC_VIOLATION_KEY_SNR 4u      /* key SNR below min_snr_db */
#define KVC_VIOLATION_VALUE_SNR 8u    /* value SNR below min_snr_db */
#define KVC_VIOLATION_NON_FINITE 16u  /* a NaN or infinity where the original was finite */

typedef struct kvc_quality_thresholds {
  uint32_t struct_size;
  float min_cosine; /* default 0.99 */
  float min_snr_db; /* default 20 */
} kvc_quality_thresholds;

/** Fills *thresholds with defaults; struct_size is the caller's sizeof(*thresholds). */
KVC_API kvc_status kvc_quality_thresholds_default(kvc_quality_thresholds* thresholds,
                                                  uint32_t struct_size);

/* Reconstruction error of a cache against its original; K, V and both together. */
typedef struct kvc_quality {
  uint32_t struct_size;
  int32_t level;       /* KVC_QUALITY_* of the worse of K and V */
  int32_t passed;      /* 1 when violations == 0 */
  uint32_t violations; /* KVC_VIOLATION_* flags */
  double key_rmse, key_snr_db, key_cosine, key_max_error;
  double value_rmse, value_snr_db, value_cosine, value_max_error;
  double rmse, snr_db, cosine, max_error; /* over K and V together */
} kvc_quality;

/** Level names: "POOR", "ACCEPTABLE", "GOOD", "EXCELLENT"; "UNKNOWN" otherwise. */
KVC_API const char* kvc_quality_level_name(int32_t level);

/** Compares a reconstructed cache (b) against its original (a). The shapes must agree in
 * layers, heads, tokens and head_dim; dtypes and strides may differ.
 * @param thresholds  NULL for defaults */
KVC_API kvc_status kvc_quality_compare(kvc_context* ctx, const kvc_quality_thresholds* thresholds,
                                       const kvc_cache_shape* shape_a, const void* keys_a,
                                       const void* values_a, const kvc_cache_shape* shape_b,
                                       const void* keys_b, const void* values_b,
                                       kvc_quality* out_quality);

/* ---- Cache files: a kvc_cache is immutable once loaded; share it across threads freely -- */
/* safetensors files with tensors layer_{i}_key / layer_{i}_value of shape [1, kv_heads, tokens,
 * head_dim] or [kv_heads, tokens, head_dim], and the JSON sidecar <stem>.metadata.json. */
typedef struct kvc_cache kvc_cache;

/** Loads a safetensors KV cache (every safetensors rule is checked). */
KVC_API kvc_status kvc_cache_load(kvc_context* ctx, const char* path, kvc_cache** out_cache);
/** Frees a loaded cache; NULL is a no-op. */
KVC_API void kvc_cache_free(kvc_cache* cache);
/** Shape of a loaded cache (packed). */
KVC_API kvc_status kvc_cache_get_shape(const kvc_cache* cache, kvc_cache_shape* out_shape);
/** Packed keys or values ([layer][kv_heads][tokens][head_dim]) of a loaded cache; owned by it. */
KVC_API const void* kvc_cache_keys(const kvc_cache* cache);
KVC_API const void* kvc_cache_values(const kvc_cache* cache);
/** Model name recorded in the file's metadata; "" when none. Owned by the cache. */
KVC_API const char* kvc_cache_model_name(const kvc_cache* cache);

/** Writes a KV cache as safetensors plus its metadata sidecar, atomically (temporary file and
 * rename). model_name may be NULL. */
KVC_API kvc_status kvc_cache_save(kvc_context* ctx, const char* path, const kvc_cache_shape* shape,
                                  const void* keys, const void* values, const char* model_name);

/* Query vectors saved beside a cache: tensors layer_{i}_query, [1, query_heads, queries,
 * head_dim] (or without the 1), one dtype and shape for all layers. Immutable once loaded. */
typedef struct kvc_query_file kvc_query_file;

/** Loads a query file. @return as kvc_cache_load */
KVC_API kvc_status kvc_query_file_load(kvc_context* ctx, const char* path,
                                       kvc_query_file** out_file);
/** Frees a query file; NULL is a no-op. */
KVC_API void kvc_query_file_free(kvc_query_file* file);
/** Its shape (per_layer 1), as kvc_compress_with_queries and kvc_validate take it; the number of
 * layers is out_num_layers (NULL allowed). */
KVC_API kvc_status kvc_query_file_get_shape(const kvc_query_file* file, kvc_query_shape* out_shape,
                                            uint32_t* out_num_layers);
/** Packed [layer][query_head][query][head_dim] data in the file's dtype; NULL for NULL. */
KVC_API const void* kvc_query_file_data(const kvc_query_file* file);

/* ---- Adapters: a kvc_adapter is immutable once built; share it across threads freely -- */
/* A model adapter describes one model: its attention, cache shape and compression policy.
 * The built-in registry holds every model of kvc's seed list and open models with their
 * published configs; its adapters are borrowed (never freed by the caller, valid for the life of
 * the library). Adapters built from a config.json or a GGUF file are owned: free them with
 * kvc_adapter_free. Shape fields are 0 where a model's architecture is not public: the shape
 * then comes from the input cache, and only the policy applies. */
/* (kvc_adapter itself is declared with the context, above.) */

/* Attention types of kvc_adapter_info.attention_type. */
#define KVC_ATTENTION_CAUSAL 0         /* every earlier token */
#define KVC_ATTENTION_BIDIRECTIONAL 1  /* every token */
#define KVC_ATTENTION_SLIDING_WINDOW 2 /* the last window_tokens tokens */
#define KVC_ATTENTION_SPARSE 3         /* a learned subset of tokens */
#define KVC_ATTENTION_LATENT 4         /* multi-head latent attention (DeepSeek MLA) */

typedef struct kvc_adapter_info {
  uint32_t struct_size;      /* the caller sets sizeof(kvc_adapter_info) */
  int32_t attention_type;    /* KVC_ATTENTION_* */
  int32_t window_tokens;     /* sliding-window attention: tokens in the window; else 0 */
  int32_t num_layers;        /* 0 = taken from the input cache */
  int32_t num_query_heads;   /* 0 = unknown */
  int32_t num_kv_heads;      /* heads of the cache (1 for latent attention); 0 = from input */
  int32_t head_dim;          /* elements per cached head and token; 0 = from input */
  int32_t context_tokens;    /* positions the model was built for; 0 = unknown */
  int32_t latent_dim;        /* latent attention: cached latent (kv_lora_rank); else 0 */
  int32_t rope_key_dim;      /* latent attention: cached RoPE key beside it; else 0 */
  float rope_theta;          /* RoPE base frequency; 0 = unknown */
  float attention_threshold; /* policy: attention mass the kept tokens must cover, (0, 1] */
  int32_t sink_tokens;       /* policy: first tokens always kept */
  int32_t recent_tokens;     /* policy: newest tokens always kept in full precision */
  int32_t key_bits;          /* policy: 2, 3, 4, 8, or 16 (unquantized) */
  int32_t value_bits;        /* policy: 2, 3, 4, 8, or 16 (unquantized) */
  int32_t group_size;        /* policy: 32, 64 or 128 */
  int32_t may_compress_keys; /* policy: 1 = keys may be quantized; 0 = keep them exact */
  int32_t is_builtin;        /* 1 = a registry adapter (borrowed); 0 = built by the caller */
  char name[64];             /* NUL-terminated, e.g. "llama-3-8b" (cut to 63 bytes) */
  char family[32];           /* NUL-terminated, e.g. "llama" */
  char source[128];          /* NUL-terminated origin of the figures (cut to 127 bytes) */
} kvc_adapter_info;

/** Number of adapters in the built-in registry. */
KVC_API uint32_t kvc_adapter_count(void);
/** The registry adapter at index (0 .. kvc_adapter_count() - 1), borrowed.
 * @return KVC_OK, or KVC_ERR_INVALID_ARGUMENT for an index out of range or a NULL out_adapter */
KVC_API kvc_status kvc_adapter_get(uint32_t index, const kvc_adapter** out_adapter);
/** The registry adapter named name, compared case-insensitively (failing that, also ignoring
 * '-', '_', '.' and ' ': "Qwen2.5-72B" finds "qwen-2.5-72b"), borrowed.
 * @return KVC_OK, or KVC_ERR_INVALID_ARGUMENT for an unknown name or a NULL argument */
KVC_API kvc_status kvc_adapter_find(const char* name, const kvc_adapter** out_adapter);
/** Builds an adapter from the text of a Hugging Face config.json (json_size bytes; no NUL
 * needed). Reads model_type, num_hidden_layers, num_attention_heads, num_key_value_heads,
 * head_dim or hidden_size, rope_theta, sliding_window (and use_sliding_window),
 * max_position_embeddings, and kv_lora_rank with qk_rope_head_dim for latent attention. The name
 * is _name_or_path, else model_type; the policy is the registry's for that name, else defaults.
 * @return KVC_OK, KVC_ERR_CORRUPT_DATA (not a JSON object) or KVC_ERR_INVALID_ARGUMENT (a field
 *         missing or invalid; kvc_context_last_error(ctx) names it) */
KVC_API kvc_status kvc_adapter_from_hf_config(kvc_context* ctx, const char* json_text,
                                              size_t json_size, kvc_adapter** out_adapter);
/** Builds an adapter from a GGUF file's metadata; only the header and key/value section are
 * read, with every length checked against the file and fixed limits.
 * @return KVC_OK, KVC_ERR_IO, KVC_ERR_CORRUPT_DATA (malformed or truncated metadata),
 *         KVC_ERR_UNSUPPORTED_VERSION (GGUF version other than 2 or 3) or
 *         KVC_ERR_INVALID_ARGUMENT (a key the adapter needs is missing or invalid) */
KVC_API kvc_status kvc_adapter_from_gguf(kvc_context* ctx, const char* path,
                                         kvc_adapter** out_adapter);
/** Frees an adapter built by kvc_adapter_from_*; NULL and registry adapters are no-ops. */
KVC_API void kvc_adapter_free(const kvc_adapter* adapter);
/** Fills *out_info (no further than its struct_size, which must be at least 8).
 * @return KVC_OK, KVC_ERR_INVALID_ARGUMENT or KVC_ERR_UNSUPPORTED_VERSION */
KVC_API kvc_status kvc_adapter_get_info(const kvc_adapter* adapter, kvc_adapter_info* out_info);
/** The cache shape of the adapter's model for num_tokens tokens of dtype (packed strides).
 * @return KVC_OK, or KVC_ERR_INVALID_ARGUMENT when the adapter has no shape (a closed model) */
KVC_API kvc_status kvc_adapter_cache_shape(const kvc_adapter* adapter, uint32_t num_tokens,
                                           kvc_dtype dtype, kvc_cache_shape* out_shape);
/** Sets the policy fields of *params (struct_size set by the caller, other fields kept) from the
 * adapter: key/value bits (16 for keys the model may not compress), group_size, recent_tokens,
 * attention_threshold, sink_tokens, keep_recent, sliding_window (sliding-window attention) and
 * model_name. The selection policy is left as it was. */
KVC_API kvc_status kvc_adapter_compress_params(const kvc_adapter* adapter,
                                               kvc_compress_params* params);
/** "causal", "bidirectional", "sliding-window", "sparse", "latent"; "unknown" otherwise. */
KVC_API const char* kvc_attention_type_name(int32_t attention_type);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KVC_KVC_H_ */
