/* select_tokens.c: attention-guided token selection on a real cache: loads a KV cache and the
 * model's own query vectors, keeps the fewest tokens that hold 90% of the attention, validates
 * the result against the original and restores the original length with a mask, through the
 * public C API <kvc/kvc.h> alone.
 *
 *   usage: select_tokens CACHE.safetensors QUERIES.safetensors
 */
#include <kvc/kvc_tools.h>
#include <stdio.h>
#include <stdlib.h>

static int report(const kvc_context* ctx, kvc_status status, const char* call) {
  fprintf(stderr, "%s: %s: %s\n", call, kvc_status_name(status), kvc_context_last_error(ctx));
  return status == KVC_ERR_CORRUPT_DATA || status == KVC_ERR_UNSUPPORTED_VERSION ? 3 : 1;
}

int main(int argc, char** argv) {
  kvc_context* ctx = NULL;
  kvc_cache* cache = NULL;
  kvc_query_file* queries = NULL;
  kvc_cache_shape shape;
  kvc_query_shape query_shape;
  kvc_compress_params params;
  kvc_decompress_params decode;
  kvc_metrics metrics;
  kvc_validation validation;
  unsigned char* blob = NULL;
  unsigned char* mask = NULL;
  void* keys = NULL;
  void* values = NULL;
  size_t capacity, blob_bytes = 0, tensor_bytes = 0, mask_bytes = 0, kept = 0, i;
  size_t cache_bytes = 0, query_bytes = 0;
  uint32_t query_layers = 0;
  kvc_status status;
  int exit_code = 1;

  if (argc != 3) {
    fprintf(stderr, "usage: %s CACHE.safetensors QUERIES.safetensors\n", argv[0]);
    return 2;
  }
  if (kvc_context_create(NULL, &ctx, NULL, 0) != KVC_OK) return 1;
  shape.struct_size = sizeof shape;
  query_shape.struct_size = sizeof query_shape;
  if ((status = kvc_cache_load(ctx, argv[1], &cache)) != KVC_OK ||
      (status = kvc_cache_get_shape(cache, &shape)) != KVC_OK ||
      (status = kvc_cache_shape_extent(&shape, &cache_bytes, NULL)) != KVC_OK) {
    exit_code = report(ctx, status, "kvc_cache_load");
    goto done;
  }
  if ((status = kvc_query_file_load(ctx, argv[2], &queries)) != KVC_OK ||
      (status = kvc_query_file_get_shape(queries, &query_shape, &query_layers)) != KVC_OK ||
      (status = kvc_query_shape_extent(&query_shape, query_layers, &query_bytes)) != KVC_OK) {
    exit_code = report(ctx, status, "kvc_query_file_load");
    goto done;
  }

  /* 4-bit codes, and the fewest tokens per layer holding 90% of the queries' attention; the
   * first 4 tokens (attention sinks) and the newest 16 are always kept. */
  kvc_compress_params_default(&params, sizeof params);
  params.group_size = 32;
  params.selection = KVC_SELECT_ATTENTION;
  params.attention_threshold = 0.9f;
  params.sink_tokens = 4;
  params.recent_always_kept_tokens = 16;
  capacity = kvc_compress_bound(&params, &shape);
  blob = malloc(capacity);
  metrics.struct_size = sizeof metrics;
  status = kvc_compress_with_queries(ctx, &params, &shape, kvc_cache_keys(cache), cache_bytes,
                                     kvc_cache_values(cache), cache_bytes, &query_shape,
                                     kvc_query_file_data(queries), query_bytes, blob, capacity,
                                     &blob_bytes, &metrics);
  if (status != KVC_OK) {
    exit_code = report(ctx, status, "kvc_compress_with_queries");
    goto done;
  }
  printf("kept %llu of %llu tokens (summed over layers), attention coverage %.4f\n",
         (unsigned long long)metrics.tokens_kept, (unsigned long long)metrics.tokens_total,
         metrics.attention_coverage);
  printf("%llu -> %llu bytes, ratio %.2fx, %.3f bits/element\n",
         (unsigned long long)metrics.original_bytes, (unsigned long long)metrics.compressed_bytes,
         metrics.compression_ratio, metrics.bits_per_element);

  /* Validate against the original with the same queries. */
  validation.struct_size = sizeof validation;
  status = kvc_validate(ctx, NULL, NULL, &shape, kvc_cache_keys(cache), cache_bytes,
                        kvc_cache_values(cache), cache_bytes, &query_shape,
                        kvc_query_file_data(queries), query_bytes, blob, blob_bytes, &validation);
  if (status != KVC_OK) {
    exit_code = report(ctx, status, "kvc_validate");
    goto done;
  }
  printf("quality %s (%s): attention output error %.4f, top-10 overlap %.3f\n%s",
         kvc_quality_level_name(validation.level), validation.passed ? "passed" : "failed",
         validation.attention_output_error, validation.topk_overlap, validation.report);

  /* Back to the original length: evicted tokens are zero rows, the mask says which. */
  kvc_decompress_params_default(&decode, sizeof decode);
  decode.scatter = 1;
  kvc_decompress(ctx, &decode, blob, blob_bytes, NULL, NULL, 0, &tensor_bytes);
  kvc_decompress_mask(ctx, &decode, blob, blob_bytes, NULL, 0, &mask_bytes);
  keys = malloc(tensor_bytes);
  values = malloc(tensor_bytes);
  mask = malloc(mask_bytes);
  if ((status = kvc_decompress(ctx, &decode, blob, blob_bytes, keys, values, tensor_bytes,
                               &tensor_bytes)) != KVC_OK ||
      (status = kvc_decompress_mask(ctx, &decode, blob, blob_bytes, mask, mask_bytes,
                                    &mask_bytes)) != KVC_OK) {
    exit_code = report(ctx, status, "kvc_decompress");
    goto done;
  }
  for (i = 0; i < mask_bytes; ++i) kept += mask[i];
  printf("restored %u tokens per layer; the mask marks %zu of %zu (layer, head, token) kept\n",
         shape.num_tokens, kept, mask_bytes);
  exit_code = 0;

done:
  free(mask);
  free(values);
  free(keys);
  free(blob);
  kvc_query_file_free(queries);
  kvc_cache_free(cache);
  kvc_context_free(ctx);
  return exit_code;
}
