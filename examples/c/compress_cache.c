/* compress_cache.c: loads a safetensors KV cache, compresses it at 4 bits, decodes it back and
 * prints the size and quality metrics, using only the public C API <kvc/kvc.h>.
 *
 *   usage: compress_cache CACHE.safetensors
 */
#include <kvc/kvc_tools.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints the failed call, its status name and the context's message; returns the exit code. */
static int report(const kvc_context* ctx, kvc_status status, const char* call) {
  fprintf(stderr, "%s: %s: %s\n", call, kvc_status_name(status), kvc_context_last_error(ctx));
  return status == KVC_ERR_CORRUPT_DATA || status == KVC_ERR_UNSUPPORTED_VERSION ? 3 : 1;
}

int main(int argc, char** argv) {
  kvc_context* ctx = NULL;
  kvc_cache* cache = NULL;
  kvc_cache_shape shape;
  kvc_compress_params params;
  kvc_metrics metrics;
  kvc_quality quality;
  unsigned char* blob = NULL;
  void* keys = NULL;
  void* values = NULL;
  size_t capacity, blob_bytes = 0, tensor_bytes = 0;
  kvc_status status;
  int exit_code = 1;
  size_t cache_bytes = 0;
  char why[256] = "";

  if (argc != 2) {
    fprintf(stderr, "usage: %s CACHE.safetensors\n", argv[0]);
    return 2;
  }
  status = kvc_context_create(NULL, &ctx, why, sizeof why);
  if (status != KVC_OK) {
    fprintf(stderr, "kvc_context_create: %s: %s\n", kvc_status_name(status), why);
    return 1;
  }

  /* Load the cache; the library keeps its keys and values packed [layer][head][token][dim]. */
  status = kvc_cache_load(ctx, argv[1], &cache);
  if (status != KVC_OK) {
    exit_code = report(ctx, status, "kvc_cache_load");
    goto done;
  }
  shape.struct_size = (uint32_t)sizeof shape;
  status = kvc_cache_get_shape(cache, &shape);
  if (status != KVC_OK) {
    fprintf(stderr, "kvc_cache_get_shape: %s\n", kvc_status_name(status));
    goto done;
  }
  /* Every buffer crosses the API with its size: keys and values each span cache_bytes. */
  status = kvc_cache_shape_extent(&shape, &cache_bytes, NULL);
  if (status != KVC_OK) {
    fprintf(stderr, "kvc_cache_shape_extent: %s\n", kvc_status_name(status));
    goto done;
  }

  /* Compress at 4 bits per key and value, into a buffer sized by kvc_compress_bound. */
  kvc_compress_params_default(&params, (uint32_t)sizeof params);
  params.key_bits = 4;
  params.value_bits = 4;
  capacity = kvc_compress_bound(&params, &shape);
  blob = (unsigned char*)malloc(capacity);
  if (capacity == 0 || blob == NULL) {
    fprintf(stderr, "cannot allocate %lu bytes for the blob\n", (unsigned long)capacity);
    goto done;
  }
  metrics.struct_size = (uint32_t)sizeof metrics;
  status =
      kvc_compress(ctx, &params, &shape, kvc_cache_keys(cache), cache_bytes,
                   kvc_cache_values(cache), cache_bytes, blob, capacity, &blob_bytes, &metrics);
  if (status != KVC_OK) {
    exit_code = report(ctx, status, "kvc_compress");
    goto done;
  }

  /* Decompress: a call without buffers answers KVC_ERR_BUFFER_TOO_SMALL with the size needed. */
  status = kvc_decompress(ctx, NULL, blob, blob_bytes, NULL, NULL, 0, &tensor_bytes);
  if (status != KVC_ERR_BUFFER_TOO_SMALL) {
    exit_code = report(ctx, status, "kvc_decompress (size)");
    goto done;
  }
  keys = malloc(tensor_bytes);
  values = malloc(tensor_bytes);
  if (keys == NULL || values == NULL) {
    fprintf(stderr, "cannot allocate 2 x %lu bytes for the tensors\n", (unsigned long)tensor_bytes);
    goto done;
  }
  status = kvc_decompress(ctx, NULL, blob, blob_bytes, keys, values, tensor_bytes, &tensor_bytes);
  if (status != KVC_OK) {
    exit_code = report(ctx, status, "kvc_decompress");
    goto done;
  }

  /* Compare the reconstruction with the original (default thresholds: cosine 0.99, 20 dB). */
  quality.struct_size = (uint32_t)sizeof quality;
  status = kvc_quality_compare(ctx, NULL, &shape, kvc_cache_keys(cache), cache_bytes,
                               kvc_cache_values(cache), cache_bytes, &shape, keys, tensor_bytes,
                               values, tensor_bytes, &quality);
  if (status != KVC_OK) {
    exit_code = report(ctx, status, "kvc_quality_compare");
    goto done;
  }

  printf("cache         %s (%u layers, %u kv heads, %u tokens, head_dim %u)\n", argv[1],
         shape.num_layers, shape.num_kv_heads, shape.num_tokens, shape.head_dim);
  printf("size          %lu -> %lu bytes\n", (unsigned long)metrics.original_bytes,
         (unsigned long)metrics.compressed_bytes);
  printf("ratio         %.3fx (%.1f%% bandwidth saved, %.3f bits/element)\n",
         metrics.compression_ratio, metrics.bandwidth_savings_percent, metrics.bits_per_element);
  printf("compress      %.2f ms\n", metrics.compress_ms);
  printf("keys          rmse %.6g, SNR %.2f dB, cosine %.6f, max error %.6g\n", quality.key_rmse,
         quality.key_snr_db, quality.key_cosine, quality.key_max_error);
  printf("values        rmse %.6g, SNR %.2f dB, cosine %.6f, max error %.6g\n", quality.value_rmse,
         quality.value_snr_db, quality.value_cosine, quality.value_max_error);
  printf("quality       %s, %s\n", kvc_quality_level_name(quality.level),
         quality.passed ? "passed" : "failed the thresholds");
  exit_code = 0;

done:
  free(values);
  free(keys);
  free(blob);
  kvc_cache_free(cache);
  kvc_context_free(ctx);
  return exit_code;
}
