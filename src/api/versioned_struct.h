// versioned_struct.h: reading and writing the caller's versioned structs (struct_size first).
#pragma once

#include <kvc/kvc.h>

#include <cstddef>
#include <cstring>
#include <string>

#include "core/error.h"

namespace kvc {

// Copies the caller's struct over defaults: fields beyond its struct_size keep their defaults.
// NULL gives the defaults; a struct_size larger than this library knows is rejected.
template <class T>
T read_versioned(const T* given, const T& defaults, const char* name) {
  if (given == nullptr) return defaults;
  if (given->struct_size > sizeof(T)) {
    throw Error(KVC_ERR_UNSUPPORTED_VERSION,
                std::string(name) + ".struct_size " + std::to_string(given->struct_size) +
                    " is newer than this library (" + std::to_string(sizeof(T)) + ")");
  }
  require(given->struct_size >= 8, std::string(name) + ".struct_size " +
                                       std::to_string(given->struct_size) + " is too small");
  T out = defaults;
  std::memcpy(&out, given, given->struct_size);
  out.struct_size = sizeof(T);
  return out;
}

// Writes a result into the caller's struct, no further than its struct_size.
template <class T>
void write_versioned(T* out, const T& value, const char* name) {
  require(out != nullptr, std::string(name) + " is NULL");
  if (out->struct_size > sizeof(T)) {
    throw Error(KVC_ERR_UNSUPPORTED_VERSION,
                std::string(name) + ".struct_size " + std::to_string(out->struct_size) +
                    " is newer than this library (" + std::to_string(sizeof(T)) + ")");
  }
  require(out->struct_size >= 8, std::string(name) + ".struct_size " +
                                     std::to_string(out->struct_size) +
                                     " is too small (set it to sizeof)");
  const uint32_t size = out->struct_size;
  std::memcpy(out, &value, size);
  out->struct_size = size;
}

// Fills a struct with defaults as a caller of struct_size sees it.
template <class T>
kvc_status fill_default(T* out, uint32_t struct_size, const T& defaults) {
  if (out == nullptr) return KVC_ERR_INVALID_ARGUMENT;
  if (struct_size > sizeof(T)) return KVC_ERR_UNSUPPORTED_VERSION;
  if (struct_size < 8) return KVC_ERR_INVALID_ARGUMENT;
  std::memcpy(out, &defaults, struct_size);
  out->struct_size = struct_size;
  return KVC_OK;
}

}  // namespace kvc
