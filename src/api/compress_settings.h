// compress_settings.h: kvc_compress_params as every call that takes them reads them: defaults,
// versioned struct, checks naming the field, then the core's CompressSettings.
#pragma once

#include <kvc/kvc.h>

#include "codecs/cache_codec.h"

namespace kvc::api {

// The defaults kvc_compress_params_default fills in.
kvc_compress_params compress_defaults();

// The caller's params (NULL: defaults) as CompressSettings; throws Error(INVALID_ARGUMENT or
// UNSUPPORTED_VERSION) naming the first bad field.
CompressSettings settings_from(const kvc_compress_params* given);

}  // namespace kvc::api
