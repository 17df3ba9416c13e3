// progress_bridge.c: C side of progress.go: forwards kvc's callback to the exported Go function.
#include <stdint.h>

#include "_cgo_export.h"

static void kvc_go_progress(void* user_data, uint64_t done, uint64_t total) {
  kvcGoProgress((uintptr_t)user_data, done, total);
}

kvc_status kvc_go_set_progress(kvc_context* ctx, uintptr_t handle) {
  return kvc_context_set_progress(ctx, kvc_go_progress, (void*)handle);
}
