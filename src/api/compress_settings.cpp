// compress_settings.cpp: kvc_compress_params as every call that takes them reads them: defaults,
// versioned struct, checks naming the field, then the core's CompressSettings.
#include "api/compress_settings.h"

#include <cstring>
#include <string>

#include "api/versioned_struct.h"
#include "core/error.h"

namespace kvc::api {

kvc_compress_params compress_defaults() {
  kvc_compress_params p{};
  p.struct_size = sizeof p;
  p.key_bits = 4;
  p.value_bits = 4;
  p.group_size = 64;
  p.recent_full_precision_tokens = 0;
  p.zstd_level = 1;
  p.byte_shuffle = KVC_SHUFFLE_AUTO;
  const kvc::SelectionSettings selection;
  p.selection = static_cast<int32_t>(selection.policy);
  p.attention_threshold = selection.attention_threshold;
  p.keep_ratio = selection.keep_ratio;
  p.min_tokens = selection.min_tokens;
  p.max_tokens = selection.max_tokens;
  p.sink_tokens = selection.sink_tokens;
  p.recent_always_kept_tokens = selection.keep_recent;
  p.sliding_window = selection.sliding_window;
  p.per_head = 0;
  return p;
}

kvc::CompressSettings settings_from(const kvc_compress_params* given) {
  const kvc_compress_params p =
      kvc::read_versioned(given, compress_defaults(), "kvc_compress_params");
  kvc::CompressSettings s;
  s.key_bits = p.key_bits;
  s.value_bits = p.value_bits;
  kvc::require(p.group_size > 0,
               "group_size " + std::to_string(p.group_size) + " is not 32, 64 or 128");
  s.group_size = static_cast<uint32_t>(p.group_size);
  kvc::require(p.recent_full_precision_tokens >= 0,
               "recent_full_precision_tokens " + std::to_string(p.recent_full_precision_tokens) +
                   " is negative");
  s.recent_tokens = static_cast<uint32_t>(p.recent_full_precision_tokens);
  s.zstd_level = p.zstd_level;
  kvc::require(p.byte_shuffle == KVC_SHUFFLE_AUTO || p.byte_shuffle == KVC_SHUFFLE_OFF ||
                   p.byte_shuffle == KVC_SHUFFLE_ON,
               "byte_shuffle " + std::to_string(p.byte_shuffle) +
                   " is not KVC_SHUFFLE_AUTO, KVC_SHUFFLE_OFF or KVC_SHUFFLE_ON");
  s.shuffle = static_cast<kvc::ShuffleMode>(p.byte_shuffle);
  const size_t name_length = strnlen(p.model_name, sizeof p.model_name);
  kvc::require(name_length < sizeof p.model_name,
               "model_name is not NUL-terminated within 64 bytes");
  s.model_name.assign(p.model_name, name_length);
  kvc::SelectionSettings& sel = s.selection;
  sel.policy = static_cast<kvc::SelectionPolicy>(p.selection);
  sel.attention_threshold = p.attention_threshold;
  sel.keep_ratio = p.keep_ratio;
  sel.min_tokens = p.min_tokens;
  sel.max_tokens = p.max_tokens;
  sel.sink_tokens = p.sink_tokens;
  sel.keep_recent = p.recent_always_kept_tokens;
  sel.sliding_window = p.sliding_window;
  kvc::require(p.per_head == 0 || p.per_head == 1,
               "per_head " + std::to_string(p.per_head) + " is not 0 or 1");
  sel.per_head = p.per_head == 1;
  kvc::validate(s);
  return s;
}

}  // namespace kvc::api
