// verify_fuzz.cpp: libFuzzer target: kvc_inspect and kvc_verify of arbitrary bytes.
#include <kvc/kvc.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvc_context* ctx = kvc_fuzz::context();
  kvc_blob_info info;
  std::memset(&info, 0, sizeof info);
  info.struct_size = sizeof info;
  const kvc_status inspected = kvc_inspect(ctx, data, size, &info);
  kvc_fuzz::check_status(inspected, "kvc_inspect", ctx);
  if (inspected == KVC_OK) {
    kvc_fuzz::expect(info.blob_bytes == size, "kvc_inspect reports another blob size");
    kvc_fuzz::expect(info.producer[sizeof info.producer - 1] == '\0' &&
                         info.model_name[sizeof info.model_name - 1] == '\0',
                     "kvc_inspect leaves a string unterminated");
    kvc_fuzz::expect(info.num_chunks == 2 * info.num_layers, "kvc_inspect counts other chunks");
  }
  const kvc_status verified = kvc_verify(ctx, data, size);
  kvc_fuzz::check_status(verified, "kvc_verify", ctx);
  // A blob that verifies must also inspect: verify reads everything inspect reads.
  if (verified == KVC_OK)
    kvc_fuzz::expect(inspected == KVC_OK, "verify accepts what inspect rejects");
  return 0;
}
