/* c_header_test.c: the public header compiles as strict C99 and its basic calls link and run. */
#include <kvc/kvc_tools.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  kvc_context* ctx = NULL;
  kvc_compress_params params;
  kvc_cache_shape shape;
  const kvc_adapter* adapter = NULL;
  kvc_adapter_info info;
  if (kvc_version_number() != KVC_VERSION_NUMBER) return 1;
  if (strcmp(kvc_status_name(KVC_ERR_CORRUPT_DATA), "KVC_ERR_CORRUPT_DATA") != 0) return 2;
  if (kvc_compress_params_default(&params, (uint32_t)sizeof params) != KVC_OK) return 3;
  if (kvc_cache_shape_default(&shape, (uint32_t)sizeof shape) != KVC_OK) return 4;
  if (kvc_context_create(NULL, &ctx, NULL, 0) != KVC_OK || ctx == NULL) return 5;
  if (strcmp(kvc_context_last_error(ctx), "") != 0) return 6;
  if (kvc_adapter_find("gpt-4", &adapter) != KVC_OK) return 7;
  info.struct_size = (uint32_t)sizeof info;
  if (kvc_adapter_get_info(adapter, &info) != KVC_OK || info.attention_threshold < 0.91f) return 8;
  kvc_adapter_free(adapter); /* a registry adapter: a no-op */
  kvc_context_free(ctx);
  kvc_context_free(NULL);
  printf("kvc %s: C99 header ok\n", kvc_version_string());
  return 0;
}
