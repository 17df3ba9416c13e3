/* consumer.c: compresses a small cache through an installed libkvc and checks the round trip. */
#include <kvc/kvc.h>
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  enum { kElements = 2 * 4 * 64 * 32 };
  float keys[kElements], values[kElements], keys_out[kElements], values_out[kElements];
  for (int i = 0; i < kElements; ++i) {
    keys[i] = (float)((i * 37) % 101) / 7.0f;
    values[i] = (float)((i * 53) % 97) / 9.0f;
  }
  kvc_context* ctx = NULL;
  kvc_cache_shape shape;
  kvc_compress_params params;
  kvc_cache_shape_default(&shape, sizeof shape);
  shape.num_layers = 2;
  shape.num_kv_heads = 4;
  shape.num_tokens = 64;
  shape.head_dim = 32;
  shape.dtype = KVC_DTYPE_F32;
  kvc_compress_params_default(&params, sizeof params);
  params.key_bits = 16;
  params.value_bits = 16;
  if (kvc_context_create(NULL, &ctx, NULL, 0) != KVC_OK) return 1;
  size_t capacity = kvc_compress_bound(&params, &shape), size = 0, tensor_bytes = 0;
  void* blob = malloc(capacity);
  if (kvc_compress(ctx, &params, &shape, keys, sizeof keys, values, sizeof values, blob, capacity,
                   &size, NULL) != KVC_OK ||
      kvc_decompress(ctx, NULL, blob, size, keys_out, values_out, sizeof keys_out, &tensor_bytes) !=
          KVC_OK) {
    fprintf(stderr, "kvc: %s\n", kvc_context_last_error(ctx));
    return 1;
  }
  for (int i = 0; i < kElements; ++i) {
    if (keys[i] != keys_out[i] || values[i] != values_out[i]) return 2;
  }
  printf("kvc %s installed: %zu bytes, lossless round trip ok\n", kvc_version_string(), size);
  free(blob);
  kvc_context_free(ctx);
  return 0;
}
