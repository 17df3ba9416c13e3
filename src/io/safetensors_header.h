// safetensors_header.h: a safetensors file opened and its header checked against the format's
// rules, in memory bounded by the tensors it declares rather than by the header's size.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "io/file_reader.h"
#include "io/metadata_sidecar.h"

namespace kvc::io {

// One tensor of a header.
struct TensorEntry {
  std::string name;
  std::string_view dtype;  // a safetensors dtype name ("F16"), from a static table
  std::vector<uint64_t> shape;
  uint64_t begin = 0;  // data_offsets, within the data buffer
  uint64_t end = 0;
  uint32_t layer = 0;   // filled by the KV cache checks
  bool is_key = false;  // filled by the KV cache checks
};

struct SafetensorsFile {
  OpenFile file;
  std::vector<TensorEntry> tensors;  // sorted by data_offsets: they tile the data buffer
  std::optional<Metadata> metadata;  // from __metadata__, when the header has one
  uint64_t data_start = 0;           // file offset of the data buffer
};

// Opens path and validates its header as it streams from the file: a JSON object (at most
// 100,000,000 bytes, no duplicate keys) of tensor entries {dtype, shape (at most 64 non-negative
// dimensions), data_offsets [begin, end]} whose byte sizes match and which tile the data buffer,
// plus an optional __metadata__ object of strings. Anything else is refused where it is seen.
// Throws Error KVC_ERR_IO or KVC_ERR_CORRUPT_DATA; messages start with path and name the field.
SafetensorsFile open_safetensors(const std::string& path);

// The cache dtype of a safetensors dtype name: F16, BF16 or F32; nullopt for any other.
std::optional<DType> cache_dtype(std::string_view safetensors_name);
// "F32", "F16" or "BF16".
const char* safetensors_dtype_name(DType dtype);
// "[1,4,512,8]".
std::string shape_text(const std::vector<uint64_t>& shape);

}  // namespace kvc::io
