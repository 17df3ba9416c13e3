// decompress_fuzz.cpp: libFuzzer target: kvc_decompress of arbitrary bytes, all layers and one.
#include <kvc/kvc.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "fuzz_common.h"

namespace {

constexpr size_t kMaxTensorBytes = size_t{64} << 20;  // refuse to decode larger caches

// Learns the size with capacity 0, then decodes when it is within kMaxTensorBytes.
void decode(kvc_context* ctx, const kvc_decompress_params& params, const uint8_t* data,
            size_t size) {
  size_t needed = 0;
  kvc_status status = kvc_decompress(ctx, &params, data, size, nullptr, nullptr, 0, &needed);
  kvc_fuzz::check_status(status, "kvc_decompress (capacity 0)", ctx);
  if (status != KVC_ERR_BUFFER_TOO_SMALL || needed == 0 || needed > kMaxTensorBytes) return;
  std::vector<unsigned char> keys(needed), values(needed);
  size_t written = 0;
  status = kvc_decompress(ctx, &params, data, size, keys.data(), values.data(), needed, &written);
  kvc_fuzz::check_status(status, "kvc_decompress", ctx);
  kvc_fuzz::expect(status != KVC_ERR_BUFFER_TOO_SMALL,
                   "kvc_decompress asks for more than it said it needed");
  if (status == KVC_OK) kvc_fuzz::expect(written == needed, "kvc_decompress wrote another size");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvc_context* ctx = kvc_fuzz::context();
  kvc_decompress_params params;
  kvc_decompress_params_default(&params, sizeof params);
  decode(ctx, params, data, size);

  // One layer, converted to another dtype; the layer and dtype come from the blob's size.
  kvc_blob_info info;
  info.struct_size = sizeof info;
  const kvc_status status = kvc_inspect(ctx, data, size, &info);
  kvc_fuzz::check_status(status, "kvc_inspect", ctx);
  params.first_layer = status == KVC_OK ? static_cast<uint32_t>(size % info.num_layers)
                                        : static_cast<uint32_t>(size % 3);
  params.num_layers = 1;
  params.dtype = static_cast<kvc_dtype>(size % 3);
  decode(ctx, params, data, size);
  return 0;
}
