/* layout_dump.c: writes layout.json, the size, alignment and field offsets of every public
 * struct of kvc.h and the value of every constant, as this C compiler sees them. Bindings
 * compare their mirrors against it; a struct or constant missing here fails their tests. */
#include <stddef.h>
#include <stdio.h>

#include "kvc/kvc_tools.h"

/* The structs and their fields, in declaration order. */
#define KVC_LAYOUT_STRUCTS(S, F)                     \
  S(kvc_context_params)                              \
  F(kvc_context_params, struct_size)                 \
  F(kvc_context_params, device)                      \
  F(kvc_context_params, device_index)                \
  S(kvc_cache_shape)                                 \
  F(kvc_cache_shape, struct_size)                    \
  F(kvc_cache_shape, num_layers)                     \
  F(kvc_cache_shape, num_kv_heads)                   \
  F(kvc_cache_shape, num_tokens)                     \
  F(kvc_cache_shape, head_dim)                       \
  F(kvc_cache_shape, dtype)                          \
  F(kvc_cache_shape, layer_stride)                   \
  F(kvc_cache_shape, head_stride)                    \
  F(kvc_cache_shape, token_stride)                   \
  S(kvc_compress_params)                             \
  F(kvc_compress_params, struct_size)                \
  F(kvc_compress_params, key_bits)                   \
  F(kvc_compress_params, value_bits)                 \
  F(kvc_compress_params, group_size)                 \
  F(kvc_compress_params, recent_full_precision_tokens)              \
  F(kvc_compress_params, zstd_level)                 \
  F(kvc_compress_params, byte_shuffle)               \
  F(kvc_compress_params, model_name)                 \
  F(kvc_compress_params, selection)                  \
  F(kvc_compress_params, attention_threshold)        \
  F(kvc_compress_params, keep_ratio)                 \
  F(kvc_compress_params, min_tokens)                 \
  F(kvc_compress_params, max_tokens)                 \
  F(kvc_compress_params, sink_tokens)                \
  F(kvc_compress_params, recent_always_kept_tokens)                \
  F(kvc_compress_params, sliding_window)             \
  F(kvc_compress_params, per_head)                   \
  S(kvc_metrics)                                     \
  F(kvc_metrics, struct_size)                        \
  F(kvc_metrics, reserved)                           \
  F(kvc_metrics, original_bytes)                     \
  F(kvc_metrics, compressed_bytes)                   \
  F(kvc_metrics, compression_ratio)                  \
  F(kvc_metrics, bandwidth_savings_percent)          \
  F(kvc_metrics, bits_per_element)                   \
  F(kvc_metrics, tokens_total)                       \
  F(kvc_metrics, tokens_kept)                        \
  F(kvc_metrics, compress_ms)                        \
  F(kvc_metrics, attention_coverage)                 \
  S(kvc_query_shape)                                 \
  F(kvc_query_shape, struct_size)                    \
  F(kvc_query_shape, num_query_heads)                \
  F(kvc_query_shape, num_queries)                    \
  F(kvc_query_shape, head_dim)                       \
  F(kvc_query_shape, dtype)                          \
  F(kvc_query_shape, per_layer)                      \
  S(kvc_blob_info)                                   \
  F(kvc_blob_info, struct_size)                      \
  F(kvc_blob_info, format_major)                     \
  F(kvc_blob_info, format_minor)                     \
  F(kvc_blob_info, num_layers)                       \
  F(kvc_blob_info, num_kv_heads)                     \
  F(kvc_blob_info, num_tokens)                       \
  F(kvc_blob_info, head_dim)                         \
  F(kvc_blob_info, dtype)                            \
  F(kvc_blob_info, key_bits)                         \
  F(kvc_blob_info, value_bits)                       \
  F(kvc_blob_info, group_size)                       \
  F(kvc_blob_info, recent_full_precision_tokens)                    \
  F(kvc_blob_info, zstd_level)                       \
  F(kvc_blob_info, byte_shuffle)                     \
  F(kvc_blob_info, num_chunks)                       \
  F(kvc_blob_info, reserved)                         \
  F(kvc_blob_info, original_bytes)                   \
  F(kvc_blob_info, blob_bytes)                       \
  F(kvc_blob_info, producer)                         \
  F(kvc_blob_info, model_name)                       \
  F(kvc_blob_info, selection)                        \
  F(kvc_blob_info, per_head)                         \
  F(kvc_blob_info, tokens_kept)                      \
  F(kvc_blob_info, max_layer_tokens)                 \
  F(kvc_blob_info, reserved2)                        \
  S(kvc_decompress_params)                           \
  F(kvc_decompress_params, struct_size)              \
  F(kvc_decompress_params, dtype)                    \
  F(kvc_decompress_params, first_layer)              \
  F(kvc_decompress_params, num_layers)               \
  F(kvc_decompress_params, scatter)                  \
  S(kvc_estimate_result)                             \
  F(kvc_estimate_result, struct_size)                \
  F(kvc_estimate_result, exact_tokens)               \
  F(kvc_estimate_result, original_bytes)             \
  F(kvc_estimate_result, compressed_bytes)           \
  F(kvc_estimate_result, compression_ratio)          \
  F(kvc_estimate_result, bandwidth_savings_percent)  \
  F(kvc_estimate_result, bits_per_element)           \
  F(kvc_estimate_result, tokens_total)               \
  F(kvc_estimate_result, tokens_kept)                \
  S(kvc_validate_params)                             \
  F(kvc_validate_params, struct_size)                \
  F(kvc_validate_params, min_cosine)                 \
  F(kvc_validate_params, min_snr_db)                 \
  F(kvc_validate_params, min_attention_coverage)     \
  F(kvc_validate_params, max_attention_error)        \
  F(kvc_validate_params, top_k)                      \
  S(kvc_validation)                                  \
  F(kvc_validation, struct_size)                     \
  F(kvc_validation, level)                           \
  F(kvc_validation, passed)                          \
  F(kvc_validation, violations)                      \
  F(kvc_validation, warnings)                        \
  F(kvc_validation, recommendations)                 \
  F(kvc_validation, key_rmse)                        \
  F(kvc_validation, key_snr_db)                      \
  F(kvc_validation, key_cosine)                      \
  F(kvc_validation, key_max_error)                   \
  F(kvc_validation, value_rmse)                      \
  F(kvc_validation, value_snr_db)                    \
  F(kvc_validation, value_cosine)                    \
  F(kvc_validation, value_max_error)                 \
  F(kvc_validation, rmse)                            \
  F(kvc_validation, snr_db)                          \
  F(kvc_validation, cosine)                          \
  F(kvc_validation, max_error)                       \
  F(kvc_validation, attention_coverage)              \
  F(kvc_validation, attention_output_error)          \
  F(kvc_validation, attention_kl)                    \
  F(kvc_validation, topk_overlap)                    \
  F(kvc_validation, information_loss)                \
  F(kvc_validation, tokens_total)                    \
  F(kvc_validation, tokens_kept)                     \
  F(kvc_validation, report)                          \
  S(kvc_benchmark_result)                            \
  F(kvc_benchmark_result, struct_size)               \
  F(kvc_benchmark_result, iterations)                \
  F(kvc_benchmark_result, compress_ms_median)        \
  F(kvc_benchmark_result, compress_ms_p99)           \
  F(kvc_benchmark_result, decompress_ms_median)      \
  F(kvc_benchmark_result, decompress_ms_p99)         \
  F(kvc_benchmark_result, compress_gb_per_s)         \
  F(kvc_benchmark_result, decompress_gb_per_s)       \
  F(kvc_benchmark_result, compression_ratio)         \
  F(kvc_benchmark_result, bandwidth_savings_percent) \
  F(kvc_benchmark_result, bits_per_element)          \
  F(kvc_benchmark_result, original_bytes)            \
  F(kvc_benchmark_result, compressed_bytes)          \
  F(kvc_benchmark_result, tokens_total)              \
  F(kvc_benchmark_result, tokens_kept)               \
  F(kvc_benchmark_result, quality_passed)            \
  F(kvc_benchmark_result, quality_level)             \
  S(kvc_model_stats)                                 \
  F(kvc_model_stats, struct_size)                    \
  F(kvc_model_stats, reserved)                       \
  F(kvc_model_stats, model_name)                     \
  F(kvc_model_stats, compress_calls)                 \
  F(kvc_model_stats, decompress_calls)               \
  F(kvc_model_stats, original_bytes)                 \
  F(kvc_model_stats, compressed_bytes)               \
  F(kvc_model_stats, tokens_total)                   \
  F(kvc_model_stats, tokens_kept)                    \
  F(kvc_model_stats, coverage_samples)               \
  F(kvc_model_stats, total_compress_ms)              \
  F(kvc_model_stats, mean_compress_ms)               \
  F(kvc_model_stats, total_decompress_ms)            \
  F(kvc_model_stats, mean_decompress_ms)             \
  F(kvc_model_stats, compression_ratio)              \
  F(kvc_model_stats, mean_savings_percent)           \
  F(kvc_model_stats, mean_attention_coverage)        \
  S(kvc_quality_thresholds)                          \
  F(kvc_quality_thresholds, struct_size)             \
  F(kvc_quality_thresholds, min_cosine)              \
  F(kvc_quality_thresholds, min_snr_db)              \
  S(kvc_quality)                                     \
  F(kvc_quality, struct_size)                        \
  F(kvc_quality, level)                              \
  F(kvc_quality, passed)                             \
  F(kvc_quality, violations)                         \
  F(kvc_quality, key_rmse)                           \
  F(kvc_quality, key_snr_db)                         \
  F(kvc_quality, key_cosine)                         \
  F(kvc_quality, key_max_error)                      \
  F(kvc_quality, value_rmse)                         \
  F(kvc_quality, value_snr_db)                       \
  F(kvc_quality, value_cosine)                       \
  F(kvc_quality, value_max_error)                    \
  F(kvc_quality, rmse)                               \
  F(kvc_quality, snr_db)                             \
  F(kvc_quality, cosine)                             \
  F(kvc_quality, max_error)                          \
  S(kvc_adapter_info)                                \
  F(kvc_adapter_info, struct_size)                   \
  F(kvc_adapter_info, attention_type)                \
  F(kvc_adapter_info, window_tokens)                 \
  F(kvc_adapter_info, num_layers)                    \
  F(kvc_adapter_info, num_query_heads)               \
  F(kvc_adapter_info, num_kv_heads)                  \
  F(kvc_adapter_info, head_dim)                      \
  F(kvc_adapter_info, context_tokens)                \
  F(kvc_adapter_info, latent_dim)                    \
  F(kvc_adapter_info, rope_key_dim)                  \
  F(kvc_adapter_info, rope_theta)                    \
  F(kvc_adapter_info, attention_threshold)           \
  F(kvc_adapter_info, sink_tokens)                   \
  F(kvc_adapter_info, recent_tokens)                 \
  F(kvc_adapter_info, key_bits)                      \
  F(kvc_adapter_info, value_bits)                    \
  F(kvc_adapter_info, group_size)                    \
  F(kvc_adapter_info, may_compress_keys)             \
  F(kvc_adapter_info, is_builtin)                    \
  F(kvc_adapter_info, name)                          \
  F(kvc_adapter_info, family)                        \
  F(kvc_adapter_info, source)

/* Every #define of kvc.h and kvc_tools.h except the include guards, KVC_API and KVC_DEPRECATED. */
#define KVC_LAYOUT_CONSTANTS(C)       \
  C(KVC_VERSION_MAJOR)                \
  C(KVC_VERSION_MINOR)                \
  C(KVC_VERSION_PATCH)                \
  C(KVC_VERSION_NUMBER)               \
  C(KVC_FORMAT_MAJOR)                 \
  C(KVC_FORMAT_MINOR)                 \
  C(KVC_OK)                           \
  C(KVC_ERR_INVALID_ARGUMENT)         \
  C(KVC_ERR_BUFFER_TOO_SMALL)         \
  C(KVC_ERR_CORRUPT_DATA)             \
  C(KVC_ERR_UNSUPPORTED_VERSION)      \
  C(KVC_ERR_OUT_OF_MEMORY)            \
  C(KVC_ERR_DEVICE)                   \
  C(KVC_ERR_IO)                       \
  C(KVC_ERR_BUSY)                     \
  C(KVC_ERR_INTERNAL)                 \
  C(KVC_DTYPE_F32)                    \
  C(KVC_DTYPE_F16)                    \
  C(KVC_DTYPE_BF16)                   \
  C(KVC_DTYPE_AS_STORED)              \
  C(KVC_DEVICE_CPU)                   \
  C(KVC_DEVICE_CUDA)                  \
  C(KVC_SELECT_NONE)                  \
  C(KVC_SELECT_ATTENTION)             \
  C(KVC_SELECT_KEY_NORM)              \
  C(KVC_SELECT_RECENCY)               \
  C(KVC_SHUFFLE_AUTO)                 \
  C(KVC_SHUFFLE_OFF)                  \
  C(KVC_SHUFFLE_ON)                   \
  C(KVC_VIOLATION_ATTENTION_COVERAGE) \
  C(KVC_VIOLATION_ATTENTION_ERROR)    \
  C(KVC_WARNING_NO_QUERIES)           \
  C(KVC_WARNING_MANY_EVICTED)         \
  C(KVC_WARNING_SHAPE_FROM_INPUT)     \
  C(KVC_WARNING_QUALITY_TO_SPARE)     \
  C(KVC_RECOMMEND_MORE_KEY_BITS)      \
  C(KVC_RECOMMEND_MORE_VALUE_BITS)    \
  C(KVC_RECOMMEND_SMALLER_GROUPS)     \
  C(KVC_RECOMMEND_MORE_RECENT_TOKENS) \
  C(KVC_RECOMMEND_HIGHER_THRESHOLD)   \
  C(KVC_RECOMMEND_MORE_SINK_TOKENS)   \
  C(KVC_RECOMMEND_FEWER_BITS)         \
  C(KVC_RECOMMEND_LOWER_THRESHOLD)    \
  C(KVC_QUALITY_POOR)                 \
  C(KVC_QUALITY_ACCEPTABLE)           \
  C(KVC_QUALITY_GOOD)                 \
  C(KVC_QUALITY_EXCELLENT)            \
  C(KVC_VIOLATION_KEY_COSINE)         \
  C(KVC_VIOLATION_VALUE_COSINE)       \
  C(KVC_VIOLATION_KEY_SNR)            \
  C(KVC_VIOLATION_VALUE_SNR)          \
  C(KVC_VIOLATION_NON_FINITE)         \
  C(KVC_ATTENTION_CAUSAL)             \
  C(KVC_ATTENTION_BIDIRECTIONAL)      \
  C(KVC_ATTENTION_SLIDING_WINDOW)     \
  C(KVC_ATTENTION_SPARSE)             \
  C(KVC_ATTENTION_LATENT)

#define KVC_ALIGNOF(type) \
  offsetof(               \
      struct {            \
        char c;           \
        type t;           \
      },                  \
      t)
#define FIELD_SIZE(type, field) sizeof(((type*)0)->field)

static int first_struct = 1;
static int first_field = 1;

static void open_struct(FILE* out, const char* name, size_t size, size_t align) {
  fprintf(out, "%s\n    \"%s\": {\"size\": %zu, \"align\": %zu, \"fields\": [",
          first_struct ? "" : "]},", name, size, align);
  first_struct = 0;
  first_field = 1;
}

static void field(FILE* out, const char* name, size_t offset, size_t size) {
  fprintf(out, "%s\n      {\"name\": \"%s\", \"offset\": %zu, \"size\": %zu}",
          first_field ? "" : ",", name, offset, size);
  first_field = 0;
}

static int first_constant = 1;

static void constant(FILE* out, const char* name, long long value) {
  fprintf(out, "%s\n    \"%s\": %lld", first_constant ? "" : ",", name, value);
  first_constant = 0;
}

int main(int argc, char** argv) {
  FILE* out = argc > 1 ? fopen(argv[1], "w") : stdout;
  if (out == NULL) {
    perror(argv[1]);
    return 1;
  }
  fprintf(out, "{\n  \"headers\": [\"kvc/kvc.h\", \"kvc/kvc_tools.h\"],\n  \"structs\": {");
#define S(type) open_struct(out, #type, sizeof(type), KVC_ALIGNOF(type));
#define F(type, name) field(out, #name, offsetof(type, name), FIELD_SIZE(type, name));
  KVC_LAYOUT_STRUCTS(S, F)
#undef S
#undef F
  fprintf(out, "]}\n  },\n  \"constants\": {");
#define C(name) constant(out, #name, (long long)(name));
  KVC_LAYOUT_CONSTANTS(C)
#undef C
  fprintf(out, "\n  }\n}\n");
  return (out == stdout ? fflush(out) : fclose(out)) == 0 ? 0 : 1;
}
