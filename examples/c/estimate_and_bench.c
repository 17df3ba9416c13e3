/* estimate_and_bench.c: predicts the compressed size of a model's cache with kvc_estimate, then
 * times compress and decompress of a cache of that shape with kvc_benchmark and keeps running
 * figures in a kvc_stats, using only the public C API <kvc/kvc.h>.
 *
 *   usage: estimate_and_bench [MODEL [TOKENS]]     (default: tinyllama-1.1b 256)
 */
#include <kvc/kvc_tools.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A float as fp16 (normal range only: the values here are small). */
static uint16_t to_f16(float f) {
  uint32_t x, rest, half;
  int exponent;
  memcpy(&x, &f, 4);
  exponent = (int)((x >> 23) & 0xFF) - 112;
  if (exponent <= 0) return (uint16_t)((x >> 16) & 0x8000u);
  half = ((uint32_t)exponent << 10) | ((x & 0x7FFFFFu) >> 13);
  rest = x & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;
  return (uint16_t)(((x >> 16) & 0x8000u) | half);
}

static int fail(kvc_context* ctx, kvc_status status, const char* what) {
  fprintf(stderr, "%s: %s: %s\n", what, kvc_status_name(status),
          ctx ? kvc_context_last_error(ctx) : "");
  return 1;
}

int main(int argc, char** argv) {
  const char* model = argc > 1 ? argv[1] : "tinyllama-1.1b";
  const uint32_t tokens = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : 256;
  const kvc_adapter* adapter = NULL;
  kvc_context* ctx = NULL;
  kvc_stats* stats = NULL;
  kvc_cache_shape shape;
  kvc_compress_params params;
  kvc_estimate_result estimate;
  kvc_benchmark_result bench;
  kvc_model_stats figures;
  uint16_t *keys, *values;
  size_t i, elements;
  kvc_status status;
  int exit_code = 1;

  if (kvc_adapter_find(model, &adapter) != KVC_OK) {
    fprintf(stderr, "unknown model %s (see model_adapters)\n", model);
    return 1;
  }
  shape.struct_size = sizeof shape;
  status = kvc_adapter_cache_shape(adapter, tokens, KVC_DTYPE_F16, &shape);
  if (status != KVC_OK) return fail(NULL, status, "the model publishes no shape");
  kvc_compress_params_default(&params, sizeof params);
  kvc_adapter_compress_params(adapter, &params); /* its bits, groups, threshold, name */
  params.selection = KVC_SELECT_KEY_NORM;        /* no queries here: keep the largest keys */
  params.keep_ratio = 0.5f;
  if ((status = kvc_context_create(NULL, &ctx, NULL, 0)) != KVC_OK)
    return fail(NULL, status, "context");

  /* 1. Estimate: no data needed. */
  estimate.struct_size = sizeof estimate;
  if ((status = kvc_estimate(ctx, &params, &shape, &estimate)) != KVC_OK) {
    exit_code = fail(ctx, status, "kvc_estimate");
    goto done;
  }
  printf("%s, %u tokens: %llu -> ~%llu bytes (%.2fx, %.1f%% saved), %llu of %llu tokens kept\n",
         model, tokens, (unsigned long long)estimate.original_bytes,
         (unsigned long long)estimate.compressed_bytes, estimate.compression_ratio,
         estimate.bandwidth_savings_percent, (unsigned long long)estimate.tokens_kept,
         (unsigned long long)estimate.tokens_total);

  /* 2. Benchmark a cache of that shape (deterministic pseudo-random data). */
  elements = (size_t)shape.num_layers * shape.num_kv_heads * shape.num_tokens * shape.head_dim;
  keys = malloc(elements * 2);
  values = malloc(elements * 2);
  if (keys == NULL || values == NULL) {
    fprintf(stderr, "out of memory\n");
    free(keys);
    free(values);
    goto done;
  }
  for (i = 0; i < elements; ++i) {
    keys[i] = to_f16((float)sin(0.37 * (double)i) * ((i % 64) == 3 ? 8.0f : 1.0f));
    values[i] = to_f16((float)cos(0.11 * (double)i));
  }
  bench.struct_size = sizeof bench;
  status = kvc_benchmark(ctx, &params, &shape, keys, elements * 2, values, elements * 2, NULL, NULL,
                         0, 10, &bench);
  if (status != KVC_OK) {
    exit_code = fail(ctx, status, "kvc_benchmark");
  } else {
    printf("compress median %.3f ms (p99 %.3f), decompress median %.3f ms, %.2f GB/s\n",
           bench.compress_ms_median, bench.compress_ms_p99, bench.decompress_ms_median,
           bench.compress_gb_per_s);
    printf("actual %llu bytes (%.2fx), quality %s\n", (unsigned long long)bench.compressed_bytes,
           bench.compression_ratio, bench.quality_passed == 1 ? "passed" : "not passed");

    /* 3. Statistics: attach, compress once for real, read the model's running figures. */
    if (kvc_stats_create(&stats) == KVC_OK && kvc_context_set_stats(ctx, stats) == KVC_OK) {
      size_t bound = kvc_compress_bound(&params, &shape), size = 0;
      unsigned char* blob = malloc(bound);
      if (blob != NULL && kvc_compress(ctx, &params, &shape, keys, elements * 2, values,
                                       elements * 2, blob, bound, &size, NULL) == KVC_OK) {
        figures.struct_size = sizeof figures;
        if (kvc_stats_get(stats, params.model_name, &figures) == KVC_OK) {
          printf("stats %s: %llu call(s), mean %.3f ms, mean savings %.1f%%\n", figures.model_name,
                 (unsigned long long)figures.compress_calls, figures.mean_compress_ms,
                 figures.mean_savings_percent);
          exit_code = 0;
        }
      }
      free(blob);
    }
    kvc_context_set_stats(ctx, NULL);
  }
  free(keys);
  free(values);
done:
  kvc_stats_free(stats);
  kvc_context_free(ctx);
  return exit_code;
}
