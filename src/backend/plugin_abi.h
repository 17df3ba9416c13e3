// plugin_abi.h: the C entry points a backend plugin (libkvc_cuda.so) exports to libkvc.so.
#pragma once

#include <stdint.h>

// Bumped whenever an entry point below changes; libkvc.so refuses other versions.
#define KVC_CUDA_PLUGIN_ABI_VERSION 1u

#ifdef __cplusplus
extern "C" {
#endif
typedef uint32_t (*kvc_cuda_plugin_abi_version_fn)(void);
typedef int32_t (*kvc_cuda_plugin_device_count_fn)(void);
#ifdef __cplusplus
}
#endif
