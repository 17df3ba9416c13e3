// model_config_fuzz.cpp: libFuzzer target: adapters from config.json text and GGUF metadata.
//
// An input starting with the GGUF magic is written to a temp file for kvc_adapter_from_gguf;
// any other input is the text of a config.json for kvc_adapter_from_hf_config. An adapter that
// builds is then used as a caller would: info, cache shape, compress params, bound, estimate.
#include <kvc/kvc_tools.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"

namespace {

// A private file name for this process.
const std::string& temp_path() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    return std::string(dir && *dir ? dir : "/tmp") + "/kvc_model_config_fuzz." +
           std::to_string(getpid()) + ".gguf";
  }();
  return path;
}

bool is_terminated(const char* text, size_t capacity) {
  return std::memchr(text, '\0', capacity) != nullptr;
}

// Uses an adapter that built: every call on it succeeds and the figures agree.
void exercise(kvc_context* ctx, const kvc_adapter* adapter) {
  kvc_adapter_info info;
  std::memset(&info, 0xA5, sizeof info);
  info.struct_size = sizeof info;
  kvc_fuzz::expect(kvc_adapter_get_info(adapter, &info) == KVC_OK, "get_info failed");
  kvc_fuzz::expect(info.is_builtin == 0, "a built adapter says it is built in");
  kvc_fuzz::expect(is_terminated(info.name, sizeof info.name) &&
                       is_terminated(info.family, sizeof info.family) &&
                       is_terminated(info.source, sizeof info.source),
                   "an info string is not NUL-terminated");
  kvc_fuzz::expect(info.num_layers > 0 && info.num_kv_heads > 0 && info.head_dim > 0,
                   "a built adapter has no shape");
  kvc_fuzz::expect(
      info.attention_type >= KVC_ATTENTION_CAUSAL && info.attention_type <= KVC_ATTENTION_LATENT,
      "attention type out of range");
  kvc_fuzz::expect(std::strcmp(kvc_attention_type_name(info.attention_type), "unknown") != 0,
                   "attention type has no name");

  // A caller compiled against an older header: only the first fields are written.
  kvc_adapter_info old_info;
  std::memset(&old_info, 0x5A, sizeof old_info);
  old_info.struct_size = 8;
  kvc_fuzz::expect(kvc_adapter_get_info(adapter, &old_info) == KVC_OK, "get_info(8) failed");
  kvc_fuzz::expect(old_info.attention_type == info.attention_type &&
                       old_info.window_tokens == static_cast<int32_t>(0x5A5A5A5A),
                   "get_info(8) wrote past its struct_size");

  const uint32_t num_tokens = 37;
  kvc_cache_shape shape;
  shape.struct_size = sizeof shape;
  kvc_fuzz::expect(kvc_adapter_cache_shape(adapter, num_tokens, KVC_DTYPE_BF16, &shape) == KVC_OK,
                   "cache_shape failed for an adapter with a shape");
  kvc_fuzz::expect(shape.num_layers == static_cast<uint32_t>(info.num_layers) &&
                       shape.num_kv_heads == static_cast<uint32_t>(info.num_kv_heads) &&
                       shape.head_dim == static_cast<uint32_t>(info.head_dim) &&
                       shape.num_tokens == num_tokens && shape.dtype == KVC_DTYPE_BF16,
                   "the cache shape disagrees with the info");

  kvc_compress_params params;
  kvc_fuzz::expect(kvc_compress_params_default(&params, sizeof params) == KVC_OK,
                   "compress_params_default failed");
  kvc_fuzz::expect(kvc_adapter_compress_params(adapter, &params) == KVC_OK,
                   "adapter_compress_params failed");
  kvc_fuzz::expect(is_terminated(params.model_name, sizeof params.model_name),
                   "model_name is not NUL-terminated");
  kvc_fuzz::expect(params.value_bits == info.value_bits && params.group_size == info.group_size,
                   "compress params disagree with the policy");

  // What a caller does next with them: size the output and predict the ratio.
  (void)kvc_compress_bound(&params, &shape);
  kvc_estimate_result estimate;
  estimate.struct_size = sizeof estimate;
  kvc_fuzz::check_status(kvc_estimate(ctx, &params, &shape, &estimate), "kvc_estimate", ctx);
}

void check_result(kvc_context* ctx, kvc_status status, const char* call, kvc_adapter* adapter) {
  kvc_fuzz::check_status(status, call, ctx);
  if (status == KVC_OK) {
    kvc_fuzz::expect(adapter != nullptr, "success without an adapter");
    exercise(ctx, adapter);
  } else {
    kvc_fuzz::expect(adapter == nullptr, "a failed call returns an adapter");
    kvc_fuzz::expect(kvc_context_last_error(ctx)[0] != '\0', "a failure without a message");
  }
  kvc_adapter_free(adapter);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvc_context* ctx = kvc_fuzz::context();
  kvc_adapter* adapter = nullptr;
  if (size >= 4 && std::memcmp(data, "GGUF", 4) == 0) {
    const std::string& path = temp_path();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) std::abort();
    if (std::fwrite(data, 1, size, f) != size) std::abort();
    if (std::fclose(f) != 0) std::abort();
    const kvc_status status = kvc_adapter_from_gguf(ctx, path.c_str(), &adapter);
    std::remove(path.c_str());
    check_result(ctx, status, "kvc_adapter_from_gguf", adapter);
  } else {
    // A copy of exactly size bytes, without a NUL after them: ASan reports any read past
    // json_size.
    const std::vector<char> text(data, data + size);
    const kvc_status status = kvc_adapter_from_hf_config(ctx, text.data(), text.size(), &adapter);
    check_result(ctx, status, "kvc_adapter_from_hf_config", adapter);
  }
  return 0;
}
