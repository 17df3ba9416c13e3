/* model_adapters.c: lists the built-in model adapters, then shows one found by name or built
 * from a GGUF file's metadata, using only the public C API <kvc/kvc.h>.
 *
 *   usage: model_adapters [NAME | MODEL.gguf]
 */
#include <kvc/kvc_tools.h>
#include <stdio.h>
#include <string.h>

static void print_info(const kvc_adapter_info* info) {
  printf("%-18s %-9s %-15s", info->name, info->family,
         kvc_attention_type_name(info->attention_type));
  if (info->num_layers > 0) {
    printf(" %3d layers, %3d kv heads x %3d", info->num_layers, info->num_kv_heads, info->head_dim);
  } else {
    printf(" shape from the input cache   ");
  }
  printf("  threshold %.2f\n", info->attention_threshold);
}

int main(int argc, char** argv) {
  kvc_adapter_info info;
  const kvc_adapter* adapter = NULL;
  kvc_adapter* built = NULL;
  kvc_context* ctx = NULL;
  kvc_status status;
  uint32_t i;
  size_t length;

  for (i = 0; i < kvc_adapter_count(); ++i) {
    info.struct_size = (uint32_t)sizeof info;
    if (kvc_adapter_get(i, &adapter) != KVC_OK || kvc_adapter_get_info(adapter, &info) != KVC_OK) {
      return 1;
    }
    print_info(&info);
  }
  if (argc < 2) return 0;

  length = strlen(argv[1]);
  if (length > 5 && strcmp(argv[1] + length - 5, ".gguf") == 0) {
    if (kvc_context_create(NULL, &ctx, NULL, 0) != KVC_OK) return 1;
    status = kvc_adapter_from_gguf(ctx, argv[1], &built);
    if (status != KVC_OK) {
      fprintf(stderr, "%s: %s: %s\n", argv[1], kvc_status_name(status),
              kvc_context_last_error(ctx));
      kvc_context_free(ctx);
      return status == KVC_ERR_CORRUPT_DATA ? 3 : 1;
    }
    adapter = built;
  } else if (kvc_adapter_find(argv[1], &adapter) != KVC_OK) {
    fprintf(stderr, "%s: no such model adapter\n", argv[1]);
    return 1;
  }
  info.struct_size = (uint32_t)sizeof info;
  kvc_adapter_get_info(adapter, &info);
  printf("\n");
  print_info(&info);
  printf("  policy: sink %d, recent %d, key_bits %d, value_bits %d, group_size %d\n",
         info.sink_tokens, info.recent_tokens, info.key_bits, info.value_bits, info.group_size);
  printf("  source: %s\n", info.source);
  kvc_adapter_free(built); /* NULL, or the adapter built from the GGUF file */
  kvc_context_free(ctx);
  return 0;
}
