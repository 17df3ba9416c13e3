/* kvc_tools.h: kvc's opt-in tools API: estimate, validate, benchmark, statistics, quality,
 * cache and query files, model adapters. Built only on the types of <kvc/kvc.h>. */
#ifndef KVC_KVC_TOOLS_H_
#define KVC_KVC_TOOLS_H_

#include <kvc/kvc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A model adapter (see the Adapters section); declared first because validate takes one. */
typedef struct kvc_adapter kvc_adapter;

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
 * @param keys_size, values_size, queries_size  bytes of each buffer, as for
 *                 kvc_compress_with_queries (queries_size 0 without queries)
 * @param query_shape, queries  NULL together, or queries as for kvc_compress_with_queries */
KVC_API kvc_status kvc_validate(kvc_context* ctx, const kvc_validate_params* params,
                                const kvc_adapter* adapter, const kvc_cache_shape* shape,
                                const void* keys, size_t keys_size, const void* values,
                                size_t values_size, const kvc_query_shape* query_shape,
                                const void* queries, size_t queries_size, const void* blob,
                                size_t blob_size, kvc_validation* out_validation);

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
 * @param query_shape, queries  NULL together, or as for kvc_compress_with_queries; the sizes
 *                              as there */
KVC_API kvc_status kvc_benchmark(kvc_context* ctx, const kvc_compress_params* params,
                                 const kvc_cache_shape* shape, const void* keys, size_t keys_size,
                                 const void* values, size_t values_size,
                                 const kvc_query_shape* query_shape, const void* queries,
                                 size_t queries_size, uint32_t iterations,
                                 kvc_benchmark_result* out_result);

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
 * @param thresholds  NULL for defaults
 * @param keys_a_size, ...  bytes of each buffer; each at least its shape's extent */
KVC_API kvc_status kvc_quality_compare(kvc_context* ctx, const kvc_quality_thresholds* thresholds,
                                       const kvc_cache_shape* shape_a, const void* keys_a,
                                       size_t keys_a_size, const void* values_a,
                                       size_t values_a_size, const kvc_cache_shape* shape_b,
                                       const void* keys_b, size_t keys_b_size, const void* values_b,
                                       size_t values_b_size, kvc_quality* out_quality);

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
/** Packed keys or values ([layer][kv_heads][tokens][head_dim]) of a loaded cache; owned by it.
 * Each spans kvc_cache_shape_extent's out_tensor_bytes for its shape. */
KVC_API const void* kvc_cache_keys(const kvc_cache* cache);
KVC_API const void* kvc_cache_values(const kvc_cache* cache);
/** Model name recorded in the file's metadata; "" when none. Owned by the cache. */
KVC_API const char* kvc_cache_model_name(const kvc_cache* cache);

/** Writes a KV cache as safetensors plus its metadata sidecar, atomically (a temporary file
 * beside path, unique to the call, then a rename; concurrent saves to one path each leave a
 * whole, matching pair). A path that is a FIFO or a device is written as a stream, without a
 * sidecar. keys_size and values_size as for kvc_compress; model_name may be NULL. */
KVC_API kvc_status kvc_cache_save(kvc_context* ctx, const char* path, const kvc_cache_shape* shape,
                                  const void* keys, size_t keys_size, const void* values,
                                  size_t values_size, const char* model_name);

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
/** Packed [layer][query_head][query][head_dim] data in the file's dtype; NULL for NULL. It spans
 * kvc_query_shape_extent's bytes for the file's shape and layers. */
KVC_API const void* kvc_query_file_data(const kvc_query_file* file);

/* ---- Adapters: a kvc_adapter is immutable once built; share it across threads freely -- */
/* A model adapter describes one model: its attention, cache shape and compression policy.
 * The built-in registry holds the models of the Awareness SDK's model table (policy figures)
 * and open models with their published configs; its adapters are borrowed (never freed by the
 * caller, valid for the life of the library). Adapters built from a config.json or a GGUF file are
 * owned: free them with kvc_adapter_free. Shape fields are 0 where a model's architecture is not
 * public: the shape then comes from the input cache, and only the policy applies. */

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
  int32_t recent_tokens;     /* policy: newest tokens never evicted and kept in full precision */
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
 * adapter: key/value bits (16 for keys the model may not compress), group_size,
 * recent_full_precision_tokens and recent_always_kept_tokens (both the policy's recent_tokens),
 * attention_threshold, sink_tokens, sliding_window (sliding-window attention) and
 * model_name. The selection policy is left as it was. */
KVC_API kvc_status kvc_adapter_compress_params(const kvc_adapter* adapter,
                                               kvc_compress_params* params);
/** "causal", "bidirectional", "sliding-window", "sparse", "latent"; "unknown" otherwise. */
KVC_API const char* kvc_attention_type_name(int32_t attention_type);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* KVC_KVC_TOOLS_H_ */
